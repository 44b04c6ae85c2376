"""The one typed settings object, read from TELEPHONIST_* environment variables; CLI flags override."""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SmscSettings(BaseModel):
    """One SMSC Telephonist binds to as an ESME, and the destinations routed to it."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    host: str
    port: int = Field(gt=0, lt=65536)
    system_id: str = Field(max_length=15)
    password: str = Field(max_length=8)
    system_type: str = Field(default="", max_length=12)
    bind: Literal["transceiver", "transmitter+receiver"] = "transceiver"
    # Destinations this SMSC serves, by E.164 prefix ("+44", "+1555"); the longest match wins.
    prefixes: list[str] = Field(default_factory=list)
    throughput: float = Field(default=0.0, ge=0)  # submit_sm a second; 0: as fast as the window allows
    window: int = Field(default=10, ge=1, le=1000)  # submit_sm awaiting their response
    enquire_link_interval: float = Field(default=30.0, gt=0)
    response_timeout: float = Field(default=30.0, gt=0)
    # TON/NPI of source addresses; None: international/E.164 for +numbers, alphanumeric for names.
    source_ton: int | None = Field(default=None, ge=0, le=6)
    source_npi: int | None = Field(default=None, ge=0, le=18)
    use_payload: bool = False  # long messages in one submit_sm with message_payload instead of UDH parts


class SmppUser(BaseModel):
    """An ESME that may bind to Telephonist's SMPP server, and the account its messages belong to."""

    system_id: str = Field(max_length=15)
    password: str = Field(max_length=8)
    account_sid: str


class SipTrunk(BaseModel):
    """A SIP trunk: calls from its host to platform numbers run their VoiceUrl; calls to the numbers
    of its prefixes leave through it."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    host: str
    port: int = Field(default=5060, gt=0, lt=65536)
    transport: Literal["udp", "tcp"] = "udp"
    # Destinations this trunk serves, by E.164 prefix ("+44", "+1555"); the longest match wins.
    prefixes: list[str] = Field(default_factory=list)
    # Digest credentials for the trunk's 401/407 challenges to our INVITEs.
    username: str = ""
    password: str = ""
    max_cps: float = Field(default=0.0, ge=0)  # INVITEs a second to this trunk; 0: no limit
    # Caller-ID rules: a number every call through the trunk shows (its own, say), else the call's From;
    # and how numbers are written in the INVITE: "+15551234567", "15551234567" or national "5551234567".
    caller_id: str = ""
    number_format: Literal["e164", "no-plus", "national"] = "e164"

    @property
    def sid(self) -> str:
        """A TK SID of its own, the same for the same name (trunks live in the settings, not the database)."""
        return "TK" + hashlib.md5(self.name.encode(), usedforsecurity=False).hexdigest()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TELEPHONIST_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    # The URL applications and webhooks see; defaults to http://host:port.
    public_url: str | None = None
    db: str = "sqlite:///telephonist.db"
    account_sid: str | None = None
    auth_token: str | None = None
    # Simulated seconds per real second is 1/time_scale: 0.01 makes <Pause length="10"> last 0.1 s.
    time_scale: float = Field(default=1.0, gt=0, le=100)
    log_level: str = "info"
    # The total time of one webhook, retries included, when its URL sets no `#tt` connection override.
    webhook_timeout: float = 15.0
    # false refuses webhook and media URLs whose host resolves to a loopback, private, link-local, CGNAT,
    # unique-local, multicast or unspecified address (11205); for operators, off in the embedded default.
    webhook_allow_private: bool = True
    # Segments a second of some senders, e.g. '{"+15005550006": 50}' (JSON); the others send at the
    # carriers' defaults: 1 for a long code, 3 for a toll-free number, 100 for a short code.
    sender_mps: dict[str, float] = Field(default_factory=dict)
    # SMS carriers over SMPP (JSON list of SmscSettings); destinations no prefix matches stay simulated.
    smpp_carriers: list[SmscSettings] = Field(default_factory=list)
    # The SMPP server face: port 0 is off; users as a JSON list of SmppUser.
    smpp_port: int = Field(default=0, ge=0, lt=65536)
    smpp_users: list[SmppUser] = Field(default_factory=list)
    max_body_bytes: int = 1_048_576
    # SIP over UDP: port 0 is off; the address defaults to `host`. RTP takes even ports of `rtp_ports`.
    sip_port: int = Field(default=0, ge=0, lt=65536)
    sip_host: str | None = None
    rtp_ports: str = Field(default="10000-20000", pattern=r"^\d{4,5}-\d{4,5}$")
    # SIP trunks (JSON list of SipTrunk); INVITEs from other hosts are refused (403).
    sip_trunks: list[SipTrunk] = Field(default_factory=list)
    sip_trace: bool = False  # log every SIP message (first line, Call-ID, CSeq) with its call's SID
    # The address browsers reach for the browser phone's media (its ICE host candidate); unset, every
    # address of the machine but loopback.
    webrtc_host: str | None = None
    # Signs the console's session cookies; give every API process the same one (random when unset).
    console_secret: str | None = None
    # Each account's REST requests (api/limits.py), beyond which 429 with code 20429: a token bucket (0: no
    # rate limit) and requests in progress (0: no limit; 100 is Twilio's commonly cited concurrency).
    api_requests_per_second: float = Field(default=10_000.0, ge=0)
    api_burst: int = Field(default=20_000, ge=1)
    api_concurrency: int = Field(default=100, ge=0)
    # Outbound API calls an account starts a (simulated) second, as Twilio's CPS; the rest wait `queued`.
    calls_per_second: float = Field(default=1.0, ge=0)
    # Failed authentications one client address may make for one SID (ten times as many in all) before it
    # is refused with 429 for a while; the allowance comes back over the window. 0: no limit.
    auth_failures: int = Field(default=10, ge=0)
    auth_failure_window: float = Field(default=60.0, gt=0)
    # What this process runs (nodes.py): "all" (the embedded default), "api" (REST, console, twimlets:
    # stateless, any number behind an HTTP load balancer) or "engine" (jobs, calls, SIP, SMPP; health
    # probes and metrics over HTTP). Several api and engine nodes share one PostgreSQL database.
    role: Literal["all", "api", "engine"] = "all"
    # Unique per process; the same id after a restart lets a node take back its own leftovers at once.
    # Unset: the host name and the HTTP port.
    node_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    # A node that has not renewed its lease for this long is dead: its live calls end as failed, its jobs
    # go to the others. It renews every third of it.
    node_lease: float = Field(default=10.0, gt=0)

    @field_validator("account_sid")
    @classmethod
    def _account_sid(cls, v: str | None) -> str | None:
        from telephonist.sids import is_sid

        if v is not None and not is_sid(v, "AC"):
            raise ValueError("TELEPHONIST_ACCOUNT_SID must be 'AC' followed by 32 hex digits")
        return v

    @field_validator("auth_token")
    @classmethod
    def _auth_token(cls, v: str | None) -> str | None:
        if v is not None and len(v) < 16:
            raise ValueError("TELEPHONIST_AUTH_TOKEN must be at least 16 characters")
        return v

    @field_validator("sender_mps")
    @classmethod
    def _sender_mps(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [sender for sender, mps in v.items() if not mps > 0]
        if bad:
            raise ValueError(f"TELEPHONIST_SENDER_MPS: the rate of {', '.join(bad)} must be above 0")
        return v

    @property
    def node(self) -> str:
        import socket

        return self.node_id or f"{socket.gethostname()}:{self.port}"[:64]

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
