"""Production refuses to send visitors' messages over cleartext SMTP to another machine."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from inquiry.config import Settings

SECRET = "k" * 40


def production(**values: object) -> Settings:
    return Settings(
        _env_file=None,
        environment="production",
        secret_key=SECRET,
        public_base_url="https://contact.ketaminetherapyclinic.ca",
        mail_transport="smtp",
        **values,  # type: ignore[arg-type]
    )


class TestCleartextSmtp:
    def test_a_relay_elsewhere_without_tls_is_refused_in_production(self) -> None:
        with pytest.raises(ValidationError, match="INQUIRY_SMTP_ALLOW_PLAINTEXT"):
            production(smtp_host="mail.example.ca", smtp_security="none")

    @pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.0.0.53", "::1", "[::1]"])
    def test_a_relay_on_this_machine_may_be_plain(self, host: str) -> None:
        settings = production(smtp_host=host, smtp_security="none")
        assert not settings.start_up_warnings()

    @pytest.mark.parametrize("security", ["starttls", "tls"])
    def test_tls_to_a_relay_elsewhere_is_fine(self, security: str) -> None:
        settings = production(smtp_host="mail.example.ca", smtp_security=security)
        assert not settings.start_up_warnings()

    def test_an_explicit_allowance_starts_with_a_warning(self) -> None:
        settings = production(
            smtp_host="10.0.0.25", smtp_security="none", smtp_allow_plaintext=True
        )
        [warning] = settings.start_up_warnings()
        assert "10.0.0.25:25 goes in cleartext" in warning

    def test_development_may_use_any_relay(self) -> None:
        settings = Settings(
            _env_file=None,
            mail_transport="smtp",
            smtp_host="mail.example.ca",
        )
        assert not settings.start_up_warnings()
