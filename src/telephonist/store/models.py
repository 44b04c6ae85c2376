"""Tables. Every resource has `seq` (insertion order, for newest-first keyset paging) and a Twilio `sid`."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()


def _resource(name: str, *cols: Column[object], indexes: tuple[Index, ...] = ()) -> Table:
    return Table(
        name,
        metadata,
        Column("seq", Integer, primary_key=True),
        Column("sid", String(34), nullable=False, unique=True),
        *cols,
        Column("date_created", DateTime, nullable=False),
        Column("date_updated", DateTime, nullable=False),
        *indexes,
    )


accounts = _resource(
    "accounts",
    Column("owner_account_sid", String(34), nullable=False, index=True),
    Column("friendly_name", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("type", String(8), nullable=False),
    Column("auth_token", String(64), nullable=False),
)

incoming_phone_numbers = _resource(
    "incoming_phone_numbers",
    Column("account_sid", String(34), nullable=False, index=True),
    Column("phone_number", String(32), nullable=False, unique=True),
    Column("friendly_name", String(64), nullable=False),
    Column("voice_url", Text),
    Column("voice_method", String(4), nullable=False),
    Column("voice_fallback_url", Text),
    Column("voice_fallback_method", String(4), nullable=False),
    Column("status_callback", Text),
    Column("status_callback_method", String(4), nullable=False),
    Column("voice_caller_id_lookup", Boolean, nullable=False),
    Column("voice_application_sid", String(34)),
    Column("sms_url", Text),
    Column("sms_method", String(4), nullable=False),
    Column("sms_fallback_url", Text),
    Column("sms_fallback_method", String(4), nullable=False),
    Column("sms_application_sid", String(34)),
)

messages = _resource(
    "messages",
    Column("account_sid", String(34), nullable=False),
    Column("to", String(64), nullable=False),
    Column("from", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("direction", String(16), nullable=False),
    Column("num_segments", Integer, nullable=False),
    Column("num_media", Integer, nullable=False),
    Column("error_code", Integer),
    Column("error_message", Text),
    Column("messaging_service_sid", String(34)),
    Column("status_callback", Text),
    Column("status_callback_method", String(4)),
    Column("date_sent", DateTime),
    # When a queued message may go (epoch seconds): its sender's pacing slot, or its expiry if that comes
    # first. NULL while it waits for its media or for a Messaging Service to pick its sender.
    Column("send_after", Float),
    Column("expires_at", Float),  # ValidityPeriod: queued past this, it fails with 30001
    Column("send_at", DateTime),  # SendAt of a scheduled message
    Column("carrier", String(64)),  # the SMPP carrier a message was handed to (none: the simulated network)
    Column("node", String(64)),  # the engine whose outbox holds it while it is `sending` (nodes.py)
    indexes=(
        Index("ix_messages_account_seq", "account_sid", "seq"),
        # A queued message is its own send job: the messaging engine takes those due through this index.
        Index(
            "ix_messages_due",
            "send_after",
            sqlite_where=text("status = 'queued'"),
            postgresql_where=text("status = 'queued'"),
        ),
        # Sticky sender: the number a Messaging Service last used for a recipient.
        Index("ix_messages_service_to", "messaging_service_sid", "to"),
        # A message `sending` through an SMPP carrier waits in this carrier's outbox until submitted.
        Index(
            "ix_messages_sending",
            "carrier",
            sqlite_where=text("status = 'sending'"),
            postgresql_where=text("status = 'sending'"),
        ),
    ),
)

# The parts of a message an SMSC accepted, by the message_id it gave each: delivery receipts name them.
message_parts = Table(
    "message_parts",
    metadata,
    Column("carrier", String(64), primary_key=True),
    Column("smsc_message_id", String(65), primary_key=True),
    Column("message_sid", String(34), nullable=False, index=True),
    Column("part", Integer, nullable=False),
    Column("ref", Integer, nullable=False),  # the concatenation reference its parts share
    Column("stat", String(8)),  # the receipt's stat, once one came
)

# What ESMEs bound to the SMPP server submitted: the message_id each submit_sm_resp gave, the message it
# is part of (once all its parts came), and the receipt owed for it; deleted once the receipt is taken.
smpp_submits = Table(
    "smpp_submits",
    metadata,
    Column("message_id", String(65), primary_key=True),
    Column("system_id", String(16), nullable=False),
    Column("message_sid", String(34), index=True),
    Column("registered_delivery", Integer, nullable=False),
    Column("date_created", DateTime, nullable=False),
)

# Media of MMS messages (ME…), fetched from the MediaUrl when the message was created or received.
message_media = _resource(
    "message_media",
    Column("account_sid", String(34), nullable=False),
    Column("message_sid", String(34), nullable=False, index=True),
    Column("content_type", String(128), nullable=False),
    Column("content", LargeBinary, nullable=False),
)

# Each sender's pacing: the time its next segment may leave (epoch seconds); outbound calls' pacing too,
# under `call:{AccountSid}` and `call:{trunk SID}` (api/limits.py CallPacer).
message_senders = Table(
    "message_senders",
    metadata,
    Column("sender", String(64), primary_key=True),
    Column("next_slot", Float, nullable=False),
)

messaging_services = _resource(
    "messaging_services",
    Column("account_sid", String(34), nullable=False, index=True),
    Column("friendly_name", String(64), nullable=False),
    Column("inbound_request_url", Text),
    Column("inbound_method", String(4), nullable=False),
    Column("fallback_url", Text),
    Column("fallback_method", String(4), nullable=False),
    Column("status_callback", Text),
    Column("sticky_sender", Boolean, nullable=False),
    Column("mms_converter", Boolean, nullable=False),
    Column("smart_encoding", Boolean, nullable=False),
    Column("fallback_to_long_code", Boolean, nullable=False),
    Column("area_code_geomatch", Boolean, nullable=False),
    Column("validity_period", Integer, nullable=False),
    Column("synchronous_validation", Boolean, nullable=False),
    Column("usecase", String(32), nullable=False),
    Column("use_inbound_webhook_on_number", Boolean, nullable=False),
)

# A Messaging Service's sender pool; `sid` is the number's PN sid, so a number is in one service at most.
messaging_service_numbers = _resource(
    "messaging_service_numbers",
    Column("service_sid", String(34), nullable=False, index=True),
    Column("account_sid", String(34), nullable=False),
    Column("phone_number", String(32), nullable=False, unique=True),
)

# Recipients who texted STOP: `scope` is the Messaging Service (MG…) or the number they texted.
opt_outs = Table(
    "opt_outs",
    metadata,
    Column("scope", String(64), primary_key=True),
    Column("address", String(64), primary_key=True),
    Column("account_sid", String(34), nullable=False),
    Column("date_created", DateTime, nullable=False),
)

calls = _resource(
    "calls",
    Column("account_sid", String(34), nullable=False),
    Column("parent_call_sid", String(34)),
    Column("to", String(256), nullable=False),
    Column("from", String(256), nullable=False),
    Column("phone_number_sid", String(34)),
    Column("status", String(16), nullable=False),
    Column("direction", String(16), nullable=False),
    Column("start_time", DateTime),
    Column("end_time", DateTime),
    Column("duration", Integer),
    Column("answered_by", String(32)),
    Column("forwarded_from", String(64)),
    Column("caller_name", String(64)),
    Column("trunk_sid", String(34)),  # the SIP trunk it came in by or left through (TK…)
    Column("node", String(64)),  # the node that holds (or held) its live session (nodes.py)
    # What the call was created with (Url, Method, Twiml, StatusCallback…): the engine's instructions.
    Column("params", JSON, nullable=False),
    indexes=(Index("ix_calls_account_seq", "account_sid", "seq"), Index("ix_calls_node", "node")),
)

notifications = _resource(
    "notifications",
    Column("account_sid", String(34), nullable=False, index=True),
    Column("call_sid", String(34)),
    Column("error_code", String(8), nullable=False),
    Column("log", String(1), nullable=False),
    Column("message_text", Text, nullable=False),
    Column("message_date", DateTime, nullable=False),
    Column("request_method", String(4)),
    Column("request_url", Text),
    Column("request_variables", Text),
    Column("response_body", Text),
    Column("response_headers", Text),
)

recordings = _resource(
    "recordings",
    Column("account_sid", String(34), nullable=False),
    Column("call_sid", String(34)),
    Column("conference_sid", String(34)),
    Column("status", String(16), nullable=False),
    Column("source", String(32), nullable=False),
    Column("channels", Integer, nullable=False),
    Column("track", String(16), nullable=False),
    Column("duration", Integer),  # seconds, once completed
    Column("start_time", DateTime, nullable=False),
    Column("error_code", Integer),
    indexes=(
        Index("ix_recordings_account_seq", "account_sid", "seq"),
        Index("ix_recordings_call", "call_sid"),
    ),
)

# The audio of a recording (16-bit mono PCM at 8 kHz), apart from the row that lists and pages.
recording_media = Table(
    "recording_media",
    metadata,
    Column("recording_sid", String(34), primary_key=True),
    Column("pcm", LargeBinary, nullable=False),
)

transcriptions = _resource(
    "transcriptions",
    Column("account_sid", String(34), nullable=False),
    Column("recording_sid", String(34), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("transcription_text", Text),
    Column("duration", Integer, nullable=False),
    indexes=(Index("ix_transcriptions_account_seq", "account_sid", "seq"),),
)

queues = _resource(
    "queues",
    Column("account_sid", String(34), nullable=False),
    Column("friendly_name", String(64), nullable=False),
    Column("max_size", Integer, nullable=False),
    Column("dequeued", Integer, nullable=False),  # callers taken out, and their total wait: the average
    Column("total_wait", Integer, nullable=False),
    indexes=(Index("ix_queues_account_name", "account_sid", "friendly_name"),),
)

# Callers waiting in a queue, oldest first (position = rank by seq).
queue_members = Table(
    "queue_members",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("queue_sid", String(34), nullable=False, index=True),
    Column("call_sid", String(34), nullable=False, unique=True),
    Column("date_enqueued", DateTime, nullable=False),
)

applications = _resource(
    "applications",
    Column("account_sid", String(34), nullable=False),
    Column("friendly_name", String(64), nullable=False),
    Column("voice_url", Text),
    Column("voice_method", String(4), nullable=False),
    Column("voice_fallback_url", Text),
    Column("voice_fallback_method", String(4), nullable=False),
    Column("status_callback", Text),
    Column("status_callback_method", String(4), nullable=False),
    Column("voice_caller_id_lookup", Boolean, nullable=False),
    Column("sms_url", Text),
    Column("sms_method", String(4), nullable=False),
    Column("sms_fallback_url", Text),
    Column("sms_fallback_method", String(4), nullable=False),
    Column("sms_status_callback", Text),
    Column("message_status_callback", Text),
    Column("public_application_connect_enabled", Boolean, nullable=False),
    indexes=(Index("ix_applications_account_seq", "account_sid", "seq"),),
)

# API keys: the secret is shown once, at creation. Basic auth checks its SHA-256; the secret itself verifies
# the access tokens the key signs (HS256 needs it). Keys made before it was kept have none.
api_keys = _resource(
    "api_keys",
    Column("account_sid", String(34), nullable=False, index=True),
    Column("friendly_name", String(64), nullable=False),
    Column("secret_sha256", String(64), nullable=False),
    Column("secret", String(64)),
)

conferences = _resource(
    "conferences",
    Column("account_sid", String(34), nullable=False),
    Column("friendly_name", String(128), nullable=False),
    Column("status", String(16), nullable=False),  # init, in-progress, completed
    Column("region", String(8), nullable=False),
    Column("reason_conference_ended", String(64)),
    Column("call_sid_ending_conference", String(34)),
    Column("node", String(64)),  # the engine that runs the room (None: reserved by an API node, not begun)
    indexes=(
        Index("ix_conferences_account_name", "account_sid", "friendly_name"),
        # One live room of a name in an account, whichever engine opens it first.
        Index(
            "ux_conferences_live",
            "account_sid",
            "friendly_name",
            unique=True,
            sqlite_where=text("status IN ('init', 'in-progress')"),
            postgresql_where=text("status IN ('init', 'in-progress')"),
        ),
    ),
)

participants = Table(
    "participants",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("conference_sid", String(34), nullable=False, index=True),
    Column("account_sid", String(34), nullable=False),
    Column("call_sid", String(34), nullable=False),
    Column("label", String(128)),
    Column("status", String(16), nullable=False),  # queued, connecting, ringing, connected, complete, failed
    Column("muted", Boolean, nullable=False),
    Column("hold", Boolean, nullable=False),
    Column("coaching", Boolean, nullable=False),
    Column("call_sid_to_coach", String(34)),
    Column("start_conference_on_enter", Boolean, nullable=False),
    Column("end_conference_on_exit", Boolean, nullable=False),
    Column("date_created", DateTime, nullable=False),
    Column("date_updated", DateTime, nullable=False),
)

# Durable work: delivery receipts, inbound webhooks, status callbacks, call starts. Written in the same
# transaction as the resource they concern, deleted when done. (Message sends need no job: see messages.)
jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("run_at", Float, nullable=False),
    Column("claimed_until", Float, nullable=False, default=0.0),
    Column("attempts", Integer, nullable=False, default=0),
    Column("payload", JSON, nullable=False),
    Column("claimed_by", String(64)),  # the node whose claim it is (nodes.py)
    Index("ix_jobs_due", "run_at"),
)

# The processes sharing the database, each with a lease it renews (nodes.py).
nodes = Table(
    "nodes",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("role", String(8), nullable=False),
    Column("started", Float, nullable=False),
    Column("lease_until", Float, nullable=False),
)

# The simulated network: virtual phones, what they received, and what every call leg heard.
sim_phones = Table(
    "sim_phones",
    metadata,
    Column("number", String(256), primary_key=True),
    Column("answer", String(16), nullable=False),
    Column("ring_seconds", Float, nullable=False),
    Column("gather_input", JSON, nullable=False),
    Column("answered_by", String(32), nullable=False),
    Column("date_created", DateTime, nullable=False),
)

sim_inbox = Table(
    "sim_inbox",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("phone", String(256), nullable=False, index=True),
    Column("message_sid", String(34), nullable=False, unique=True),
    Column("account_sid", String(34), nullable=False),
    Column("from", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("date_received", DateTime, nullable=False),
)

# Console sessions ended by signing out, until their cookie would have expired anyway.
console_signouts = Table(
    "console_signouts",
    metadata,
    Column("session_id", String(32), primary_key=True),
    Column("expires", DateTime, nullable=False),
)

call_events = Table(
    "call_events",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("call_sid", String(34), nullable=False, index=True),
    Column("event", JSON, nullable=False),
    Column("date_created", DateTime, nullable=False),
)

# SIP Domains (SD…): `<name>.sip.twilio.com` addresses that SIP endpoints call and register with. The name
# is kept in lower case, so the unique constraint and the carrier's look-up ignore case.
sip_domains = _resource(
    "sip_domains",
    Column("account_sid", String(34), nullable=False),
    Column("domain_name", String(255), nullable=False, unique=True),
    Column("friendly_name", String(64)),
    Column("voice_url", Text),
    Column("voice_method", String(4), nullable=False),
    Column("voice_fallback_url", Text),
    Column("voice_fallback_method", String(4), nullable=False),
    Column("voice_status_callback_url", Text),
    Column("voice_status_callback_method", String(4), nullable=False),
    Column("sip_registration", Boolean, nullable=False),
    Column("emergency_calling_enabled", Boolean, nullable=False),
    Column("secure", Boolean, nullable=False),
    Column("byoc_trunk_sid", String(34)),
    Column("emergency_caller_sid", String(34)),
    indexes=(Index("ix_sip_domains_account_seq", "account_sid", "seq"),),
)

# SIP CredentialLists (CL…) and their Credentials (CR…). The password stays in clear, as the accounts' auth
# tokens do: digest authentication (MD5 or SHA-256, any realm) needs it, and it is never rendered.
sip_credential_lists = _resource(
    "sip_credential_lists",
    Column("account_sid", String(34), nullable=False),
    Column("friendly_name", String(64), nullable=False),
    indexes=(Index("ux_sip_credential_lists_name", "account_sid", "friendly_name", unique=True),),
)

sip_credentials = _resource(
    "sip_credentials",
    Column("account_sid", String(34), nullable=False),
    Column("credential_list_sid", String(34), nullable=False),
    Column("username", String(32), nullable=False),
    Column("password", Text, nullable=False),
    indexes=(Index("ux_sip_credentials_username", "credential_list_sid", "username", unique=True),),
)

# Where registered SIP phones are (carriers/sip/registrar.py): in the database, so that every engine reaches
# a phone that registered with any of them.
sip_registrations = Table(
    "sip_registrations",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("aor", String(320), nullable=False),  # user@domain, lower-cased domain
    Column("username", String(64), nullable=False),
    Column("contact", String(512), nullable=False),
    Column("source_host", String(64), nullable=False),
    Column("source_port", Integer, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("call_id", String(256), nullable=False),
    Column("cseq", Integer, nullable=False),
    Column("account_sid", String(34), nullable=False),
    Column("domain_sid", String(34), nullable=False),
    Index("ux_sip_registrations", "aor", "contact", unique=True),
    Index("ix_sip_registrations_user", "account_sid", "username"),
)

# Which credential lists a domain checks, for calls (`Auth/Calls` and the legacy `CredentialListMappings`)
# or for registrations (`Auth/Registrations`). A mapping's SID on the wire is its list's CL… SID.
sip_credential_list_mappings = Table(
    "sip_credential_list_mappings",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("account_sid", String(34), nullable=False),
    Column("domain_sid", String(34), nullable=False),
    Column("kind", String(16), nullable=False),  # calls | registrations
    Column("credential_list_sid", String(34), nullable=False, index=True),
    Column("date_created", DateTime, nullable=False),
    Column("date_updated", DateTime, nullable=False),
    Index("ux_sip_mappings", "domain_sid", "kind", "credential_list_sid", unique=True),
)
