"""Provider tokens at rest: Fernet under TOKEN_ENCRYPTION_KEY, derived in development, required in production."""

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from magnetiq.app import configuration_problem, create_app
from shared.config import Settings
from shared.token_crypto import TokenUnreadable, token_cipher


def test_a_token_is_stored_as_something_else_and_read_back():
    cipher = token_cipher(Settings(_env_file=None, environment="test"))
    stored = cipher.encrypt("AQX-secret-access-token")
    assert "AQX-secret-access-token" not in stored
    assert cipher.decrypt(stored) == "AQX-secret-access-token"


def test_the_development_key_follows_the_secret_key():
    one = token_cipher(Settings(_env_file=None, secret_key="a" * 40))
    other = token_cipher(Settings(_env_file=None, secret_key="b" * 40))
    stored = one.encrypt("token")
    with pytest.raises(TokenUnreadable) as raised:
        other.decrypt(stored)
    assert stored not in str(raised.value)


def test_keys_rotate_the_first_encrypts_every_one_decrypts():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = token_cipher(Settings(_env_file=None, token_encryption_key=old))
    stored = before.encrypt("token")
    after = token_cipher(Settings(_env_file=None, token_encryption_key=f"{new},{old}"))
    assert after.decrypt(stored) == "token"
    rotated = after.rotate(stored)
    assert token_cipher(Settings(_env_file=None, token_encryption_key=new)).decrypt(rotated) == "token"


def test_a_malformed_key_is_refused_naming_the_variable():
    with pytest.raises(ValidationError, match="token_encryption_key"):
        Settings(_env_file=None, token_encryption_key="not-a-fernet-key")


def test_production_refuses_to_start_without_a_token_key(settings):
    production = Settings(_env_file=None, environment="production", secret_key="x" * 48,
                          database_url=settings.database_url)
    assert "TOKEN_ENCRYPTION_KEY" in configuration_problem(production)
    with pytest.raises(RuntimeError, match="TOKEN_ENCRYPTION_KEY"):
        create_app(production)
    keyed = production.model_copy(update={"token_encryption_key": Settings(
        _env_file=None, token_encryption_key=Fernet.generate_key().decode()).token_encryption_key})
    assert configuration_problem(keyed) is None
