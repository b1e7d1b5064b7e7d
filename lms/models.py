"""Imports every model module so the metadata is complete (migrations, schema checks)."""

from __future__ import annotations

from lms.audit import models as audit_models
from lms.catalog import models as catalog_models
from lms.db import Base
from lms.evidence import models as evidence_models
from lms.integrations import tokens as integration_tokens
from lms.integrations import webhooks as integration_webhooks
from lms.integrations.lti import models as lti_models
from lms.integrations.scim import models as scim_models
from lms.integrations.xapi import models as xapi_models
from lms.people import models as people_models
from lms.people.sso import models as sso_models
from lms.reminders import models as reminders_models
from lms.reports import models as reports_models
from lms.training import models as training_models

__all__ = [
    "Base",
    "audit_models",
    "catalog_models",
    "evidence_models",
    "integration_tokens",
    "integration_webhooks",
    "lti_models",
    "scim_models",
    "xapi_models",
    "people_models",
    "sso_models",
    "reminders_models",
    "reports_models",
    "training_models",
]
