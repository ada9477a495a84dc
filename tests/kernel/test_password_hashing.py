"""Fast argon2 parameters exist for the test suite only; every other environment hashes strongly."""

import pytest
from argon2 import PasswordHasher
from cryptography.fernet import Fernet

from magnetiq.app import create_app
from shared.config import Settings
from shared.security import hash_password, use_password_hashing_for, verify_password

STRONG = PasswordHasher()


@pytest.fixture
def restore_test_hashing():
    yield
    use_password_hashing_for("test")


def _parameters(stored: str) -> str:
    return stored.split("$")[3]  # "m=65536,t=3,p=4"


@pytest.mark.parametrize("environment", ["production", "development"])
async def test_every_environment_but_test_hashes_with_the_strong_parameters(tmp_path, environment,
                                                                            restore_test_hashing):
    settings = Settings(
        _env_file=None, environment=environment, secret_key="k" * 48, worker_enabled=False,
        token_encryption_key=Fernet.generate_key().decode(),  # production refuses to start without one
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
    )
    app = create_app(settings)
    try:
        stored = await hash_password("correct-horse-battery-staple")
        assert _parameters(stored) == f"m={STRONG.memory_cost},t={STRONG.time_cost},p={STRONG.parallelism}"
        assert not STRONG.check_needs_rehash(stored)
    finally:
        await app.state.db.dispose()


async def test_production_rehashes_a_password_stored_with_the_fast_parameters(restore_test_hashing):
    use_password_hashing_for("test")
    fast = await hash_password("correct-horse-battery-staple")
    assert STRONG.check_needs_rehash(fast)

    use_password_hashing_for("production")
    check = await verify_password(fast, "correct-horse-battery-staple")
    assert check.valid and check.new_hash is not None and not STRONG.check_needs_rehash(check.new_hash)


async def test_the_test_environment_hashes_fast_and_still_verifies(app):
    stored = await hash_password("correct-horse-battery-staple")
    assert _parameters(stored) == "m=8,t=1,p=1"
    assert (await verify_password(stored, "correct-horse-battery-staple")).valid
    assert not (await verify_password(stored, "wrong-horse-battery-staple")).valid
