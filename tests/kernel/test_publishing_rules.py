"""The publishing rules: transitions, the retry and rate-limit policy, account health."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import InvalidTransition
from shared.publishing import (
    MAX_ATTEMPTS,
    DuplicateContent,
    PermissionMissing,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    Unauthorized,
    account_health,
    backoff,
    check_editable,
    check_transition,
    failure_outcome,
)

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize("current", ["publishing", "published", "unknown", "cancelled"])
def test_only_drafts_scheduled_and_failed_posts_may_be_published(current):
    with pytest.raises(InvalidTransition):
        check_transition(current, "publishing")


def test_an_unknown_post_only_becomes_failed():
    check_transition("unknown", "failed")
    for target in ("publishing", "published", "scheduled", "cancelled"):
        with pytest.raises(InvalidTransition):
            check_transition("unknown", target)


@pytest.mark.parametrize("current", ["publishing", "published", "failed", "unknown", "cancelled"])
def test_only_drafts_and_scheduled_posts_are_editable(current):
    check_editable("draft")
    with pytest.raises(InvalidTransition):
        check_editable(current)


def test_a_rate_limit_with_a_reset_postpones_the_account_until_then():
    reset = NOW + timedelta(minutes=7)
    outcome = failure_outcome(RateLimited("429", reset_at=reset), attempts=1, by_worker=True, now=NOW)
    assert (outcome.status, outcome.retry_at, outcome.account_postponed_until) == ("scheduled", reset, reset)


def test_a_rate_limit_without_headers_backs_off_exponentially():
    first = failure_outcome(RateLimited("429"), attempts=1, by_worker=True, now=NOW)
    third = failure_outcome(RateLimited("429"), attempts=3, by_worker=True, now=NOW)
    assert first.account_postponed_until == NOW + timedelta(minutes=1)
    assert third.account_postponed_until == NOW + timedelta(minutes=4)
    assert backoff(50) == timedelta(hours=1)


def test_a_publish_asked_for_by_a_person_fails_at_once():
    outcome = failure_outcome(ProviderUnavailable("503", sent=False), attempts=1, by_worker=False, now=NOW)
    assert outcome.status == "failed" and outcome.retry_at is None


def test_the_worker_retries_what_never_reached_the_provider_up_to_a_limit():
    retried = failure_outcome(ProviderUnavailable("503", sent=False), attempts=2, by_worker=True, now=NOW)
    assert (retried.status, retried.retry_at) == ("scheduled", NOW + timedelta(minutes=2))
    given_up = failure_outcome(ProviderUnavailable("503", sent=False), attempts=MAX_ATTEMPTS, by_worker=True, now=NOW)
    assert given_up.status == "failed"


@pytest.mark.parametrize("by_worker", [True, False])
def test_a_timeout_after_sending_is_unknown_and_never_retried(by_worker):
    outcome = failure_outcome(ProviderTimeout("no answer in 20 s"), attempts=1, by_worker=by_worker, now=NOW)
    assert outcome.status == "unknown" and outcome.retry_at is None


def test_duplicates_and_missing_scopes_are_final_and_a_401_asks_for_reconnection():
    assert failure_outcome(DuplicateContent("dup"), attempts=1, by_worker=True, now=NOW).status == "failed"
    missing = failure_outcome(PermissionMissing("no scope", scope="w_member_social"), attempts=1, by_worker=True, now=NOW)
    assert missing.status == "failed" and not missing.reconnect_required
    revoked = failure_outcome(Unauthorized("401"), attempts=1, by_worker=True, now=NOW)
    assert revoked.status == "failed" and revoked.reconnect_required


@pytest.mark.parametrize(
    ("expires_in", "can_refresh", "expected"),
    [
        (timedelta(days=30), False, "active"),
        (timedelta(days=6), False, "expiring"),
        (timedelta(seconds=-1), False, "reconnect_required"),
        (timedelta(seconds=-1), True, "active"),  # a refresh token keeps it alive
    ],
)
def test_account_health(expires_in, can_refresh, expected):
    assert account_health(
        reconnect_required=False, token_expires_at=NOW + expires_in, can_refresh=can_refresh, now=NOW
    ) == expected
    assert account_health(reconnect_required=True, token_expires_at=None, can_refresh=True, now=NOW) == "reconnect_required"
