"""The one typed settings object, read from TELEPHONIST_* environment variables; CLI flags override."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    webhook_timeout: float = 15.0
    max_body_bytes: int = 1_048_576

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

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
