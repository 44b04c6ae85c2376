"""SIP dialogs (RFC 3261 §12) and the responses and in-dialog requests built from them, sans-IO."""

from __future__ import annotations

from dataclasses import dataclass, field

from telephonist.carriers.sip.message import NameAddr, Request, Response, Uri, Via, cseq, new_branch

REASONS = {
    100: "Trying",
    180: "Ringing",
    183: "Session Progress",
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    603: "Decline",
}
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO"


def response(
    request: Request,
    status: int,
    *,
    to_tag: str | None = None,
    contact: str | None = None,
    body: bytes = b"",
    content_type: str | None = None,
    extra: tuple[tuple[str, str], ...] = (),
) -> Response:
    """A response to `request` (§8.2.6): its Via, From, Call-ID and CSeq, its To with our tag; the
    Record-Route of a dialog-creating request is mirrored (§12.1.1)."""
    resp = Response(status, REASONS.get(status, "Unknown"))
    h = resp.headers
    for via in request.headers.get_all("Via"):
        h.add("Via", via)
    h.add("From", request.headers.get("From") or "")
    to = request.headers.get("To") or ""
    if to_tag is not None and status > 100 and NameAddr.parse(to).tag is None:
        to = str(NameAddr.parse(to).with_tag(to_tag))
    h.add("To", to)
    h.add("Call-ID", request.headers.get("Call-ID") or "")
    h.add("CSeq", request.headers.get("CSeq") or "")
    if request.method == "INVITE" and 100 < status < 300:
        for route in request.headers.get_all("Record-Route"):
            h.add("Record-Route", route)
    if contact is not None:
        h.add("Contact", contact)
    for name, value in extra:
        h.add(name, value)
    h.add("Server", "Telephonist")
    if body:
        h.add("Content-Type", content_type or "application/sdp")
    resp.body = body
    return resp


@dataclass
class Dialog:
    """One side's view of a dialog: what every later request in it carries and where it goes."""

    call_id: str
    local: NameAddr  # our From in requests we send (with our tag)
    remote: NameAddr  # their To in requests we send (with their tag)
    remote_target: Uri  # the Contact of the other side
    route_set: list[str] = field(default_factory=list)
    local_cseq: int = 0
    remote_cseq: int = 0
    confirmed: bool = False

    @classmethod
    def as_uas(cls, invite: Request, local_tag: str) -> Dialog:
        """The dialog a UAS creates by answering `invite` (§12.1.1): the route set is its Record-Route."""
        contact = invite.headers.get_all("Contact")
        remote = NameAddr.parse(invite.headers.get("From") or "")
        target = NameAddr.parse(contact[0]).uri if contact else remote.uri
        return cls(
            call_id=invite.headers.get("Call-ID") or "",
            local=NameAddr.parse(invite.headers.get("To") or "").with_tag(local_tag),
            remote=remote,
            remote_target=target,
            route_set=invite.headers.get_all("Record-Route"),
            remote_cseq=cseq(invite.headers)[0],
        )

    @classmethod
    def as_uac(cls, invite: Request, resp: Response) -> Dialog:
        """The dialog a UAC has once `resp` (a 2xx or 1xx with a To tag) answers its `invite` (§12.1.2):
        the route set is the response's Record-Route, reversed."""
        contact = resp.headers.get_all("Contact")
        remote = NameAddr.parse(resp.headers.get("To") or "")
        return cls(
            call_id=invite.headers.get("Call-ID") or "",
            local=NameAddr.parse(invite.headers.get("From") or ""),
            remote=remote,
            remote_target=NameAddr.parse(contact[0]).uri if contact else remote.uri,
            route_set=list(reversed(resp.headers.get_all("Record-Route"))),
            local_cseq=cseq(invite.headers)[0],
        )

    def matches(self, msg: Request) -> bool:
        """`msg` (a request from the other side) belongs to this dialog (§12.2.2)."""
        to = NameAddr.parse(msg.headers.get("To") or "").tag
        frm = NameAddr.parse(msg.headers.get("From") or "").tag
        return msg.headers.get("Call-ID") == self.call_id and to == self.local.tag and frm == self.remote.tag

    def request(
        self, method: str, via: Via, contact: str, body: bytes = b"", content_type: str = ""
    ) -> Request:
        """A new request in this dialog (§12.2.1.1), with a fresh branch on `via`."""
        if method != "ACK":
            self.local_cseq += 1
        req = Request(method, str(self.remote_target))
        h = req.headers
        h.add("Via", str(via.with_params(branch=new_branch(), rport=None)))
        h.add("Max-Forwards", "70")
        h.add("From", str(self.local))
        h.add("To", str(self.remote))
        h.add("Call-ID", self.call_id)
        h.add("CSeq", f"{self.local_cseq} {method}")
        for route in self.route_set:
            h.add("Route", route)
        if method in ("INVITE", "UPDATE"):
            h.add("Contact", contact)
        h.add("User-Agent", "Telephonist")
        if body:
            h.add("Content-Type", content_type or "application/sdp")
            req.body = body
        return req

    def next_hop(self) -> tuple[str, int]:
        """Where a request in the dialog is sent: the first loose route, else the remote target (§8.1.2)."""
        uri = NameAddr.parse(self.route_set[0]).uri if self.route_set else self.remote_target
        return uri.host.strip("[]"), uri.port or 5060
