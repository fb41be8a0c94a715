"""The lineage graph model: labels, relationship types and node keys.

The names follow W3C PROV (https://www.w3.org/TR/prov-o/): commits and file
versions are entities, jobs and removals are activities, people and service
accounts are agents, pipeline versions are plans. Every node carries `ns` (the
graph namespace) and `id` (its key inside the namespace). Each key label has a
uniqueness constraint on `(ns, id)`, so every write is a MERGE on that pair.
"""

from __future__ import annotations

from datetime import datetime, timezone

# Key labels: each node has exactly one, and it decides how `id` is built.
COMMIT = "Commit"
FILE = "File"
JOB = "Job"
ATTEMPT = "Attempt"
PIPELINE_VERSION = "PipelineVersion"
PIPELINE = "Pipeline"
AGENT = "Agent"
REPO = "Repo"
DECISION = "Decision"
REMOVAL = "Removal"

KEY_LABELS = (COMMIT, FILE, JOB, ATTEMPT, PIPELINE_VERSION, PIPELINE, AGENT, REPO, DECISION, REMOVAL)

# PROV class labels added beside the key labels.
ENTITY = "Entity"
ACTIVITY = "Activity"
PLAN = "Plan"
PERSON = "Person"
SERVICE_ACCOUNT = "ServiceAccount"

# Relationship types.
USED = "USED"
WAS_GENERATED_BY = "WAS_GENERATED_BY"
WAS_ASSOCIATED_WITH = "WAS_ASSOCIATED_WITH"
WAS_ATTRIBUTED_TO = "WAS_ATTRIBUTED_TO"
WAS_DERIVED_FROM = "WAS_DERIVED_FROM"
ACTED_ON_BEHALF_OF = "ACTED_ON_BEHALF_OF"
HAD_PLAN = "HAD_PLAN"
HAD_MEMBER = "HAD_MEMBER"
HAD_ATTEMPT = "HAD_ATTEMPT"
IN_REPO = "IN_REPO"
PARENT = "PARENT"
VERSION_OF = "VERSION_OF"
TRIGGERED = "TRIGGERED"
CONSIDERED = "CONSIDERED"
DECIDED_FOR = "DECIDED_FOR"

RELATIONSHIP_TYPES = (
    USED, WAS_GENERATED_BY, WAS_ASSOCIATED_WITH, WAS_ATTRIBUTED_TO, WAS_DERIVED_FROM, ACTED_ON_BEHALF_OF,
    HAD_PLAN, HAD_MEMBER, HAD_ATTEMPT, IN_REPO, PARENT, VERSION_OF, TRIGGERED, CONSIDERED, DECIDED_FOR,
)

AGENT_KINDS = {"person": PERSON, "service_account": SERVICE_ACCOUNT}


def file_key(repo: str, path: str, sha256: str) -> str:
    """Return the key of one file version: the same bytes at the same path of a repo are one node."""
    return f"{repo}/{path}@sha256:{sha256}"


def plan_key(pipeline: str, version: str) -> str:
    """Return the key of a pipeline version, e.g. `clean@3f2a…`."""
    return f"{pipeline}@{version}"


def attempt_key(job_id: str, attempt: int) -> str:
    """Return the key of one attempt of a job."""
    return f"{job_id}#{attempt}"


def agent_key(kind: str, name: str) -> str:
    """Return the key of an agent, e.g. `person:alice` or `service_account:clean-runner`."""
    return f"{kind}:{name}"


def person_key(reference: str) -> str:
    """Return the agent key of a person named by a free-text field such as `acting_for` or a pipeline owner.

    A value that already reads `kind:name` with a known kind is used as it is;
    anything else is taken as a person's name.
    """
    kind, separator, name = reference.partition(":")
    if separator and kind in AGENT_KINDS and name:
        return reference
    return agent_key("person", reference)


def kind_of_agent_key(key: str) -> str:
    """Return `person` or `service_account` for an agent key."""
    return key.partition(":")[0]


def s3_uri(bucket: str, prefix: str, path: str) -> str:
    """Return the S3 URI of an object from its repo's bucket and prefix and its repo-relative path."""
    if prefix and not prefix.endswith("/"):
        prefix = prefix + "/"
    return f"s3://{bucket}/{prefix}{path}"


def utc_text(moment: datetime) -> str:
    """Return a fixed-width UTC timestamp whose string order is its time order."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
