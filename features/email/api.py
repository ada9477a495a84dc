"""The email slice's public face: its jobs, mails and the events it reacts to."""

from typing import Any

from features.email import mails
from features.email.backlog import CampaignBacklog, campaign_backlog
from features.email.erasure import COMPACT_ERASED_ROWS_JOB
from features.email.leads import record_lead
from features.email.sender import SEND_CAMPAIGNS_JOB
from features.email.stats import stats
from shared.events import Event, Handler, LeadCaptured
from shared.jobs import PeriodicJob
from shared.mail_templates import MailTemplate

JOBS: tuple[PeriodicJob, ...] = (SEND_CAMPAIGNS_JOB, COMPACT_ERASED_ROWS_JOB)
MAIL_TEMPLATES: tuple[MailTemplate[Any], ...] = (*mails.MAIL_TEMPLATES,)
SUBSCRIPTIONS: tuple[tuple[type[Event], Handler], ...] = ((LeadCaptured, record_lead),)

__all__ = ["JOBS", "MAIL_TEMPLATES", "SUBSCRIPTIONS", "CampaignBacklog", "campaign_backlog", "stats"]
