"""SMPP v3.4 PDUs as dataclasses: `parse_pdu(data)` decodes one whole PDU, `bytes(pdu)` encodes it.

Names follow the specification; decoding errors carry the command_status a peer should be answered with.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Self

HEADER_LENGTH = 16
# The spec sets no maximum; a cap stops a corrupt length from making us buffer gigabytes.
MAX_COMMAND_LENGTH = 65536
MAX_SEQUENCE_NUMBER = 0x7FFFFFFF
MAX_SHORT_MESSAGE = 254
INTERFACE_VERSION = 0x34

# command_id values (section 5.1.2.1); a response is its request's id with the top bit set.
RESPONSE_BIT = 0x80000000
GENERIC_NACK = 0x80000000
BIND_RECEIVER = 0x00000001
BIND_RECEIVER_RESP = 0x80000001
BIND_TRANSMITTER = 0x00000002
BIND_TRANSMITTER_RESP = 0x80000002
QUERY_SM = 0x00000003
QUERY_SM_RESP = 0x80000003
SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = 0x80000005
UNBIND = 0x00000006
UNBIND_RESP = 0x80000006
REPLACE_SM = 0x00000007
REPLACE_SM_RESP = 0x80000007
CANCEL_SM = 0x00000008
CANCEL_SM_RESP = 0x80000008
BIND_TRANSCEIVER = 0x00000009
BIND_TRANSCEIVER_RESP = 0x80000009
OUTBIND = 0x0000000B
ENQUIRE_LINK = 0x00000015
ENQUIRE_LINK_RESP = 0x80000015
SUBMIT_MULTI = 0x00000021
SUBMIT_MULTI_RESP = 0x80000021
ALERT_NOTIFICATION = 0x00000102
DATA_SM = 0x00000103
DATA_SM_RESP = 0x80000103

COMMAND_NAMES: dict[int, str] = {
    GENERIC_NACK: "generic_nack",
    BIND_RECEIVER: "bind_receiver",
    BIND_RECEIVER_RESP: "bind_receiver_resp",
    BIND_TRANSMITTER: "bind_transmitter",
    BIND_TRANSMITTER_RESP: "bind_transmitter_resp",
    QUERY_SM: "query_sm",
    QUERY_SM_RESP: "query_sm_resp",
    SUBMIT_SM: "submit_sm",
    SUBMIT_SM_RESP: "submit_sm_resp",
    DELIVER_SM: "deliver_sm",
    DELIVER_SM_RESP: "deliver_sm_resp",
    UNBIND: "unbind",
    UNBIND_RESP: "unbind_resp",
    REPLACE_SM: "replace_sm",
    REPLACE_SM_RESP: "replace_sm_resp",
    CANCEL_SM: "cancel_sm",
    CANCEL_SM_RESP: "cancel_sm_resp",
    BIND_TRANSCEIVER: "bind_transceiver",
    BIND_TRANSCEIVER_RESP: "bind_transceiver_resp",
    OUTBIND: "outbind",
    ENQUIRE_LINK: "enquire_link",
    ENQUIRE_LINK_RESP: "enquire_link_resp",
    SUBMIT_MULTI: "submit_multi",
    SUBMIT_MULTI_RESP: "submit_multi_resp",
    ALERT_NOTIFICATION: "alert_notification",
    DATA_SM: "data_sm",
    DATA_SM_RESP: "data_sm_resp",
}


def command_name(command_id: int) -> str:
    return COMMAND_NAMES.get(command_id, f"command 0x{command_id:08x}")


# command_status values (section 5.1.3); ESME_RINVDCS comes from v5.0 but v3.4 peers send it too.
ESME_ROK = 0x00
ESME_RINVMSGLEN = 0x01
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03
ESME_RINVBNDSTS = 0x04
ESME_RALYBND = 0x05
ESME_RINVPRTFLG = 0x06
ESME_RINVREGDLVFLG = 0x07
ESME_RSYSERR = 0x08
ESME_RINVSRCADR = 0x0A
ESME_RINVDSTADR = 0x0B
ESME_RINVMSGID = 0x0C
ESME_RBINDFAIL = 0x0D
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F
ESME_RCANCELFAIL = 0x11
ESME_RREPLACEFAIL = 0x13
ESME_RMSGQFUL = 0x14
ESME_RINVSERTYP = 0x15
ESME_RINVNUMDESTS = 0x33
ESME_RINVDLNAME = 0x34
ESME_RINVDESTFLAG = 0x40
ESME_RINVSUBREP = 0x42
ESME_RINVESMCLASS = 0x43
ESME_RCNTSUBDL = 0x44
ESME_RSUBMITFAIL = 0x45
ESME_RINVSRCTON = 0x48
ESME_RINVSRCNPI = 0x49
ESME_RINVDSTTON = 0x50
ESME_RINVDSTNPI = 0x51
ESME_RINVSYSTYP = 0x53
ESME_RINVREPFLAG = 0x54
ESME_RINVNUMMSGS = 0x55
ESME_RTHROTTLED = 0x58
ESME_RINVSCHED = 0x61
ESME_RINVEXPIRY = 0x62
ESME_RINVDFTMSGID = 0x63
ESME_RX_T_APPN = 0x64
ESME_RX_P_APPN = 0x65
ESME_RX_R_APPN = 0x66
ESME_RQUERYFAIL = 0x67
ESME_RINVOPTPARSTREAM = 0xC0
ESME_ROPTPARNOTALLWD = 0xC1
ESME_RINVPARLEN = 0xC2
ESME_RMISSINGOPTPARAM = 0xC3
ESME_RINVOPTPARAMVAL = 0xC4
ESME_RDELIVERYFAILURE = 0xFE
ESME_RUNKNOWNERR = 0xFF
ESME_RINVDCS = 0x104

STATUS_NAMES: dict[int, str] = {value: name for name, value in globals().items() if name.startswith("ESME_R")}

STATUS_DESCRIPTIONS: dict[int, str] = {
    ESME_ROK: "No Error",
    ESME_RINVMSGLEN: "Message Length is invalid",
    ESME_RINVCMDLEN: "Command Length is invalid",
    ESME_RINVCMDID: "Invalid Command ID",
    ESME_RINVBNDSTS: "Incorrect BIND Status for given command",
    ESME_RALYBND: "ESME Already in Bound State",
    ESME_RINVPRTFLG: "Invalid Priority Flag",
    ESME_RINVREGDLVFLG: "Invalid Registered Delivery Flag",
    ESME_RSYSERR: "System Error",
    ESME_RINVSRCADR: "Invalid Source Address",
    ESME_RINVDSTADR: "Invalid Dest Addr",
    ESME_RINVMSGID: "Message ID is invalid",
    ESME_RBINDFAIL: "Bind Failed",
    ESME_RINVPASWD: "Invalid Password",
    ESME_RINVSYSID: "Invalid System ID",
    ESME_RCANCELFAIL: "Cancel SM Failed",
    ESME_RREPLACEFAIL: "Replace SM Failed",
    ESME_RMSGQFUL: "Message Queue Full",
    ESME_RINVSERTYP: "Invalid Service Type",
    ESME_RINVNUMDESTS: "Invalid number of destinations",
    ESME_RINVDLNAME: "Invalid Distribution List name",
    ESME_RINVDESTFLAG: "Destination flag is invalid (submit_multi)",
    ESME_RINVSUBREP: (
        "Invalid 'submit with replace' request (i.e. submit_sm with replace_if_present_flag set)"
    ),
    ESME_RINVESMCLASS: "Invalid esm_class field data",
    ESME_RCNTSUBDL: "Cannot Submit to Distribution List",
    ESME_RSUBMITFAIL: "submit_sm or submit_multi failed",
    ESME_RINVSRCTON: "Invalid Source address TON",
    ESME_RINVSRCNPI: "Invalid Source address NPI",
    ESME_RINVDSTTON: "Invalid Destination address TON",
    ESME_RINVDSTNPI: "Invalid Destination address NPI",
    ESME_RINVSYSTYP: "Invalid system_type field",
    ESME_RINVREPFLAG: "Invalid replace_if_present flag",
    ESME_RINVNUMMSGS: "Invalid number of messages",
    ESME_RTHROTTLED: "Throttling error (ESME has exceeded allowed message limits)",
    ESME_RINVSCHED: "Invalid Scheduled Delivery Time",
    ESME_RINVEXPIRY: "Invalid message validity period (Expiry time)",
    ESME_RINVDFTMSGID: "Predefined Message Invalid or Not Found",
    ESME_RX_T_APPN: "ESME Receiver Temporary App Error Code",
    ESME_RX_P_APPN: "ESME Receiver Permanent App Error Code",
    ESME_RX_R_APPN: "ESME Receiver Reject Message Error Code",
    ESME_RQUERYFAIL: "query_sm request failed",
    ESME_RINVOPTPARSTREAM: "Error in the optional part of the PDU Body.",
    ESME_ROPTPARNOTALLWD: "Optional Parameter not allowed",
    ESME_RINVPARLEN: "Invalid Parameter Length.",
    ESME_RMISSINGOPTPARAM: "Expected Optional Parameter missing",
    ESME_RINVOPTPARAMVAL: "Invalid Optional Parameter Value",
    ESME_RDELIVERYFAILURE: "Delivery Failure (used for data_sm_resp)",
    ESME_RUNKNOWNERR: "Unknown Error",
    ESME_RINVDCS: "Invalid Data Coding Scheme",
}


def status_name(status: int) -> str:
    return STATUS_NAMES.get(status, f"0x{status:08x}")


# Optional parameter tags (section 5.3.2) and the fixed value lengths we check.
USER_MESSAGE_REFERENCE = 0x0204
SAR_MSG_REF_NUM = 0x020C
SAR_TOTAL_SEGMENTS = 0x020E
SAR_SEGMENT_SEQNUM = 0x020F
SC_INTERFACE_VERSION = 0x0210
RECEIPTED_MESSAGE_ID = 0x001E
NETWORK_ERROR_CODE = 0x0423
MESSAGE_PAYLOAD = 0x0424
MESSAGE_STATE = 0x0427

TLV_LENGTHS: dict[int, int] = {
    USER_MESSAGE_REFERENCE: 2,
    SAR_MSG_REF_NUM: 2,
    SAR_TOTAL_SEGMENTS: 1,
    SAR_SEGMENT_SEQNUM: 1,
    SC_INTERFACE_VERSION: 1,
    NETWORK_ERROR_CODE: 3,
    MESSAGE_STATE: 1,
}

# esm_class bits (section 5.2.12): the message type sits in bits 2-5.
ESM_CLASS_MESSAGE_TYPE = 0x3C
ESM_CLASS_DELIVERY_RECEIPT = 0x04
ESM_CLASS_INTERMEDIATE_NOTIFICATION = 0x20
ESM_CLASS_UDHI = 0x40

BindKind = Literal["transmitter", "receiver", "transceiver"]
BIND_COMMANDS: dict[BindKind, int] = {
    "transmitter": BIND_TRANSMITTER,
    "receiver": BIND_RECEIVER,
    "transceiver": BIND_TRANSCEIVER,
}
_BIND_KINDS: dict[int, BindKind] = {v: k for k, v in BIND_COMMANDS.items()}


class PduError(Exception):
    """A PDU that cannot be decoded; `status` is what the peer should be answered with."""

    def __init__(
        self, status: int, message: str, sequence_number: int | None = None, command_id: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.sequence_number = sequence_number
        self.command_id = command_id


def _u8(value: int, name: str) -> bytes:
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{name} must fit in one octet, got {value}")
    return bytes((value,))


def _cstring(value: str, name: str, size: int) -> bytes:
    raw = value.encode("latin-1")
    if b"\0" in raw:
        raise ValueError(f"{name} must not contain NUL")
    if len(raw) >= size:
        raise ValueError(f"{name} is at most {size - 1} octets, got {len(raw)}")
    return raw + b"\0"


def _encode_tlvs(tlvs: Mapping[int, bytes]) -> bytes:
    out = bytearray()
    for tag, value in tlvs.items():
        if not 0 <= tag <= 0xFFFF:
            raise ValueError(f"TLV tag must fit in two octets, got {tag}")
        expected = TLV_LENGTHS.get(tag)
        if expected is not None and len(value) != expected:
            raise ValueError(f"TLV 0x{tag:04x} is {expected} octets, got {len(value)}")
        if len(value) > 0xFFFF:
            raise ValueError(f"TLV 0x{tag:04x} is at most 65535 octets, got {len(value)}")
        out += struct.pack(">HH", tag, len(value)) + value
    return bytes(out)


class _Reader:
    """Walks a PDU body; every failure becomes a PduError naming the field."""

    def __init__(self, data: bytes, command_id: int, sequence_number: int) -> None:
        self.data = data
        self.pos = HEADER_LENGTH
        self.command_id = command_id
        self.sequence_number = sequence_number

    def error(self, status: int, message: str) -> PduError:
        return PduError(status, message, self.sequence_number, self.command_id)

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def u8(self, name: str) -> int:
        if self.pos >= len(self.data):
            raise self.error(ESME_RINVCMDLEN, f"{command_name(self.command_id)} body ends before {name}")
        self.pos += 1
        return self.data[self.pos - 1]

    def cstring(self, name: str, size: int, status: int) -> str:
        end = self.data.find(b"\0", self.pos, self.pos + size)
        if end < 0:
            if self.remaining < size:
                raise self.error(ESME_RINVCMDLEN, f"{command_name(self.command_id)} body ends inside {name}")
            raise self.error(status, f"{name} is longer than {size - 1} octets")
        value = self.data[self.pos : end].decode("latin-1")
        self.pos = end + 1
        return value

    def octets(self, count: int, name: str) -> bytes:
        if count > self.remaining:
            raise self.error(ESME_RINVCMDLEN, f"{command_name(self.command_id)} body ends inside {name}")
        self.pos += count
        return self.data[self.pos - count : self.pos]

    def short_message(self) -> bytes:
        sm_length = self.u8("sm_length")
        if sm_length > MAX_SHORT_MESSAGE:
            raise self.error(ESME_RINVMSGLEN, f"sm_length {sm_length} exceeds {MAX_SHORT_MESSAGE}")
        return self.octets(sm_length, "short_message")

    def tlvs(self) -> dict[int, bytes]:
        tlvs: dict[int, bytes] = {}
        while self.remaining:
            if self.remaining < 4:
                raise self.error(ESME_RINVOPTPARSTREAM, f"{self.remaining} stray octets after the last TLV")
            tag, length = struct.unpack_from(">HH", self.data, self.pos)
            self.pos += 4
            if length > self.remaining:
                raise self.error(
                    ESME_RINVPARLEN, f"TLV 0x{tag:04x} claims {length} octets but {self.remaining} remain"
                )
            expected = TLV_LENGTHS.get(tag)
            if expected is not None and length != expected:
                raise self.error(ESME_RINVPARLEN, f"TLV 0x{tag:04x} must be {expected} octets, got {length}")
            tlvs[tag] = self.octets(length, f"TLV 0x{tag:04x}")
        return tlvs

    def end(self) -> None:
        if self.remaining:
            raise self.error(
                ESME_RINVCMDLEN,
                f"{self.remaining} unexpected octets after the {command_name(self.command_id)} body",
            )


@dataclass(kw_only=True)
class Pdu:
    """Every PDU: the header's command_status and sequence_number; command_id comes from the class."""

    sequence_number: int = 0
    command_status: int = ESME_ROK

    _command_id: ClassVar[int] = 0

    @property
    def command_id(self) -> int:
        return self._command_id

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE_BIT)

    def body(self) -> bytes:
        return b""

    @classmethod
    def decode(cls, reader: _Reader) -> Self:
        return cls()

    def __bytes__(self) -> bytes:
        if not 0 <= self.sequence_number <= 0xFFFFFFFF:
            raise ValueError(f"sequence_number must fit in four octets, got {self.sequence_number}")
        if not 0 <= self.command_status <= 0xFFFFFFFF:
            raise ValueError(f"command_status must fit in four octets, got {self.command_status}")
        body = self.body()
        header = struct.pack(
            ">IIII", HEADER_LENGTH + len(body), self.command_id, self.command_status, self.sequence_number
        )
        return header + body


@dataclass
class Bind(Pdu):
    """bind_transmitter, bind_receiver or bind_transceiver, told apart by `kind`."""

    kind: BindKind = "transceiver"
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = INTERFACE_VERSION
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""

    @property
    def command_id(self) -> int:
        return BIND_COMMANDS[self.kind]

    def body(self) -> bytes:
        return (
            _cstring(self.system_id, "system_id", 16)
            + _cstring(self.password, "password", 9)
            + _cstring(self.system_type, "system_type", 13)
            + _u8(self.interface_version, "interface_version")
            + _u8(self.addr_ton, "addr_ton")
            + _u8(self.addr_npi, "addr_npi")
            + _cstring(self.address_range, "address_range", 41)
        )

    @classmethod
    def decode(cls, reader: _Reader) -> Self:
        return cls(
            kind=_BIND_KINDS[reader.command_id],
            system_id=reader.cstring("system_id", 16, ESME_RINVSYSID),
            password=reader.cstring("password", 9, ESME_RINVPASWD),
            system_type=reader.cstring("system_type", 13, ESME_RINVSYSTYP),
            interface_version=reader.u8("interface_version"),
            addr_ton=reader.u8("addr_ton"),
            addr_npi=reader.u8("addr_npi"),
            address_range=reader.cstring("address_range", 41, ESME_RBINDFAIL),
        )


@dataclass
class BindResp(Pdu):
    """The answer to a bind; the body is left out when it carries an error and nothing else."""

    kind: BindKind = "transceiver"
    system_id: str = ""
    sc_interface_version: int | None = None

    @property
    def command_id(self) -> int:
        return BIND_COMMANDS[self.kind] | RESPONSE_BIT

    def body(self) -> bytes:
        if self.command_status != ESME_ROK and not self.system_id and self.sc_interface_version is None:
            return b""
        tlvs = (
            {}
            if self.sc_interface_version is None
            else {SC_INTERFACE_VERSION: bytes((self.sc_interface_version,))}
        )
        return _cstring(self.system_id, "system_id", 16) + _encode_tlvs(tlvs)

    @classmethod
    def decode(cls, reader: _Reader) -> Self:
        kind = _BIND_KINDS[reader.command_id & ~RESPONSE_BIT]
        if not reader.remaining:
            return cls(kind=kind)
        system_id = reader.cstring("system_id", 16, ESME_RINVSYSID)
        version = reader.tlvs().get(SC_INTERFACE_VERSION)
        return cls(
            kind=kind, system_id=system_id, sc_interface_version=None if version is None else version[0]
        )


@dataclass
class Unbind(Pdu):
    _command_id: ClassVar[int] = UNBIND


@dataclass
class UnbindResp(Pdu):
    _command_id: ClassVar[int] = UNBIND_RESP


@dataclass
class EnquireLink(Pdu):
    _command_id: ClassVar[int] = ENQUIRE_LINK


@dataclass
class EnquireLinkResp(Pdu):
    _command_id: ClassVar[int] = ENQUIRE_LINK_RESP


@dataclass
class GenericNack(Pdu):
    _command_id: ClassVar[int] = GENERIC_NACK


@dataclass
class MessagePdu(Pdu):
    """The body submit_sm and deliver_sm share (sections 4.4.1 and 4.6.1)."""

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""
    tlvs: dict[int, bytes] = field(default_factory=dict)

    def body(self) -> bytes:
        if len(self.short_message) > MAX_SHORT_MESSAGE:
            raise ValueError(
                f"short_message is at most {MAX_SHORT_MESSAGE} octets, got {len(self.short_message)}"
            )
        return b"".join(
            (
                _cstring(self.service_type, "service_type", 6),
                _u8(self.source_addr_ton, "source_addr_ton"),
                _u8(self.source_addr_npi, "source_addr_npi"),
                _cstring(self.source_addr, "source_addr", 21),
                _u8(self.dest_addr_ton, "dest_addr_ton"),
                _u8(self.dest_addr_npi, "dest_addr_npi"),
                _cstring(self.destination_addr, "destination_addr", 21),
                _u8(self.esm_class, "esm_class"),
                _u8(self.protocol_id, "protocol_id"),
                _u8(self.priority_flag, "priority_flag"),
                _cstring(self.schedule_delivery_time, "schedule_delivery_time", 17),
                _cstring(self.validity_period, "validity_period", 17),
                _u8(self.registered_delivery, "registered_delivery"),
                _u8(self.replace_if_present_flag, "replace_if_present_flag"),
                _u8(self.data_coding, "data_coding"),
                _u8(self.sm_default_msg_id, "sm_default_msg_id"),
                bytes((len(self.short_message),)),
                self.short_message,
                _encode_tlvs(self.tlvs),
            )
        )

    @classmethod
    def decode(cls, reader: _Reader) -> Self:
        r = reader
        return cls(
            service_type=r.cstring("service_type", 6, ESME_RINVSERTYP),
            source_addr_ton=r.u8("source_addr_ton"),
            source_addr_npi=r.u8("source_addr_npi"),
            source_addr=r.cstring("source_addr", 21, ESME_RINVSRCADR),
            dest_addr_ton=r.u8("dest_addr_ton"),
            dest_addr_npi=r.u8("dest_addr_npi"),
            destination_addr=r.cstring("destination_addr", 21, ESME_RINVDSTADR),
            esm_class=r.u8("esm_class"),
            protocol_id=r.u8("protocol_id"),
            priority_flag=r.u8("priority_flag"),
            schedule_delivery_time=r.cstring("schedule_delivery_time", 17, ESME_RINVSCHED),
            validity_period=r.cstring("validity_period", 17, ESME_RINVEXPIRY),
            registered_delivery=r.u8("registered_delivery"),
            replace_if_present_flag=r.u8("replace_if_present_flag"),
            data_coding=r.u8("data_coding"),
            sm_default_msg_id=r.u8("sm_default_msg_id"),
            short_message=r.short_message(),
            tlvs=r.tlvs(),
        )


@dataclass
class SubmitSm(MessagePdu):
    _command_id: ClassVar[int] = SUBMIT_SM


@dataclass
class DeliverSm(MessagePdu):
    _command_id: ClassVar[int] = DELIVER_SM


@dataclass
class _MessageIdResp(Pdu):
    # v3.4 leaves the body out of an error response; v5.0 peers may append TLVs, kept so nothing is lost.
    message_id: str = ""
    tlvs: dict[int, bytes] = field(default_factory=dict)

    def body(self) -> bytes:
        if self.command_status != ESME_ROK and not self.message_id and not self.tlvs:
            return b""
        return _cstring(self.message_id, "message_id", 65) + _encode_tlvs(self.tlvs)

    @classmethod
    def decode(cls, reader: _Reader) -> Self:
        if not reader.remaining:
            return cls()
        message_id = reader.cstring("message_id", 65, ESME_RINVMSGID)
        return cls(message_id=message_id, tlvs=reader.tlvs())


@dataclass
class SubmitSmResp(_MessageIdResp):
    _command_id: ClassVar[int] = SUBMIT_SM_RESP


@dataclass
class DeliverSmResp(_MessageIdResp):
    """message_id is unused in v3.4 and normally empty."""

    _command_id: ClassVar[int] = DELIVER_SM_RESP


_DECODERS: dict[int, Callable[[_Reader], Pdu]] = {
    BIND_TRANSMITTER: Bind.decode,
    BIND_RECEIVER: Bind.decode,
    BIND_TRANSCEIVER: Bind.decode,
    BIND_TRANSMITTER_RESP: BindResp.decode,
    BIND_RECEIVER_RESP: BindResp.decode,
    BIND_TRANSCEIVER_RESP: BindResp.decode,
    UNBIND: Unbind.decode,
    UNBIND_RESP: UnbindResp.decode,
    ENQUIRE_LINK: EnquireLink.decode,
    ENQUIRE_LINK_RESP: EnquireLinkResp.decode,
    GENERIC_NACK: GenericNack.decode,
    SUBMIT_SM: SubmitSm.decode,
    SUBMIT_SM_RESP: SubmitSmResp.decode,
    DELIVER_SM: DeliverSm.decode,
    DELIVER_SM_RESP: DeliverSmResp.decode,
}

_RESPONSES: dict[int, Callable[[int, int], Pdu]] = {
    UNBIND: lambda seq, status: UnbindResp(sequence_number=seq, command_status=status),
    ENQUIRE_LINK: lambda seq, status: EnquireLinkResp(sequence_number=seq, command_status=status),
    SUBMIT_SM: lambda seq, status: SubmitSmResp(sequence_number=seq, command_status=status),
    DELIVER_SM: lambda seq, status: DeliverSmResp(sequence_number=seq, command_status=status),
} | {
    command_id: lambda seq, status, kind=kind: BindResp(kind=kind, sequence_number=seq, command_status=status)
    for command_id, kind in _BIND_KINDS.items()
}


def response_for(command_id: int, sequence_number: int, command_status: int = ESME_ROK) -> Pdu:
    """The empty response to a request (a generic_nack when the command has no response of its own)."""
    make = _RESPONSES.get(command_id)
    if make is None:
        return GenericNack(sequence_number=sequence_number, command_status=command_status)
    return make(sequence_number, command_status)


def check_command_length(length: int, max_length: int = MAX_COMMAND_LENGTH) -> str | None:
    """Why a command_length cannot be framed, or None when it can."""
    if length < HEADER_LENGTH:
        return f"command_length {length} is shorter than the {HEADER_LENGTH}-octet header"
    if length > max_length:
        return f"command_length {length} exceeds the {max_length}-octet limit"
    return None


def parse_pdu(data: bytes, max_length: int = MAX_COMMAND_LENGTH) -> Pdu:
    """Decode exactly one PDU; raises PduError with the status to answer and what could be read."""
    if len(data) < HEADER_LENGTH:
        raise PduError(
            ESME_RINVCMDLEN, f"{len(data)} octets is shorter than the {HEADER_LENGTH}-octet header"
        )
    length, command_id, status, sequence_number = struct.unpack_from(">IIII", data)
    problem = check_command_length(length, max_length)
    if problem is None and length != len(data):
        problem = f"command_length {length} does not match the {len(data)} octets given"
    if problem is not None:
        raise PduError(ESME_RINVCMDLEN, problem, sequence_number, command_id)
    decode = _DECODERS.get(command_id)
    if decode is None:
        name = COMMAND_NAMES.get(command_id)
        message = f"unsupported command {name}" if name else f"unknown command_id 0x{command_id:08x}"
        raise PduError(ESME_RINVCMDID, message, sequence_number, command_id)
    reader = _Reader(data, command_id, sequence_number)
    pdu = decode(reader)
    reader.end()
    pdu.sequence_number = sequence_number
    pdu.command_status = status
    return pdu
