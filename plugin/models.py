"""The domain model of Tandem (DESIGN §2), typed SQLAlchemy 2.

Every row except :class:`Organization` belongs to one organization (tenant) and
carries ``org_id``; every unique key of a tenant-owned table is scoped by it, so
two organizations can never collide and nothing crosses organizations.

Privacy by design: there is no birth date or age anywhere. "Junior" and
"senior" come from grade, tenure and the role a person chooses.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from plugin.db import Base, UTCDateTime, str_enum, utcnow

__all__ = [
    "Action",
    "Alert",
    "AlertKind",
    "AlertStatus",
    "Assessment",
    "AssessmentAnswer",
    "AssessmentKind",
    "AuditEvent",
    "Completion",
    "Connection",
    "ConnectionKind",
    "Consent",
    "Enrollment",
    "EnrollmentRole",
    "EnrollmentStatus",
    "Feedback",
    "Goal",
    "GoalStatus",
    "LtiCacheEntry",
    "LtiDeployment",
    "LtiDeploymentStatus",
    "LtiLink",
    "LtiRegistration",
    "MatchRun",
    "MatchRunStatus",
    "MentoringSession",
    "Organization",
    "OutboxMessage",
    "OutboxStatus",
    "Person",
    "PersonIdentity",
    "PersonSkill",
    "Program",
    "ProgramCoordinator",
    "ProgramFormat",
    "ProgramInvitation",
    "ProgramStatus",
    "QuarantinedRecord",
    "SessionStatus",
    "Skill",
    "SkillCategory",
    "SkillIdentity",
    "SkillSource",
    "SurveyAnswer",
    "SyncRun",
    "SyncStatus",
    "Tandem",
    "TandemMember",
    "TandemStatus",
    "ToolKey",
    "ToolKeyStatus",
    "WritebackTarget",
]


# --------------------------------------------------------------------------- enums


class ProgramFormat(enum.StrEnum):
    """How a program groups people."""

    ONE_TO_ONE = "one_to_one"
    GROUP = "group"
    BIDIRECTIONAL = "bidirectional"
    PROJECT = "project"


class ProgramStatus(enum.StrEnum):
    """Lifecycle of a program: draft → enrolling → matching → running → closed."""

    DRAFT = "draft"
    ENROLLING = "enrolling"
    MATCHING = "matching"
    RUNNING = "running"
    CLOSED = "closed"


class EnrollmentRole(enum.StrEnum):
    """Mentor = the junior who teaches; mentee = the senior who learns."""

    MENTOR = "mentor"
    MENTEE = "mentee"


class EnrollmentStatus(enum.StrEnum):
    """An enrollment is active until the person withdraws their consent."""

    ACTIVE = "active"
    WITHDRAWN = "withdrawn"


class SkillCategory(enum.StrEnum):
    """The three families of reverse-mentoring topics."""

    TECHNOLOGY = "technology"
    WAYS_OF_WORKING = "ways_of_working"
    CULTURE_DIVERSITY = "culture_diversity"


class SkillSource(enum.StrEnum):
    """Where a skill level came from."""

    HRIS = "hris"
    SELF_ASSESSMENT = "self_assessment"
    PROGRAM_ASSESSMENT = "program_assessment"


class MatchRunStatus(enum.StrEnum):
    """A solver run: it ran (or failed), then a coordinator approves or discards it."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    APPROVED = "approved"
    DISCARDED = "discarded"


class TandemStatus(enum.StrEnum):
    """proposed → accepted → active → completed | dissolved (rejected from proposed)."""

    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    ACTIVE = "active"
    COMPLETED = "completed"
    DISSOLVED = "dissolved"
    REJECTED = "rejected"


class SessionStatus(enum.StrEnum):
    """A mentoring session is planned, then held or cancelled."""

    PLANNED = "planned"
    HELD = "held"
    CANCELLED = "cancelled"


class GoalStatus(enum.StrEnum):
    """Progress of a tandem goal."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    MET = "met"
    DROPPED = "dropped"


class AssessmentKind(enum.StrEnum):
    """Self-assessment moments."""

    PRE = "pre"
    POST = "post"
    FOLLOW_UP = "follow_up"


class OutboxStatus(enum.StrEnum):
    """Delivery state of a write-back message."""

    PENDING = "pending"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    DEAD = "dead"


class AlertKind(enum.StrEnum):
    """Why a coordinator should look at a tandem."""

    STALLED = "stalled"
    SENIOR_CANCELLATIONS = "senior_cancellations"
    LOW_SAFETY = "low_safety"


class AlertStatus(enum.StrEnum):
    """An alert is open until a coordinator acknowledges or resolves it."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class ConnectionKind(enum.StrEnum):
    """External systems Tandem syncs with."""

    SUCCESSFACTORS = "successfactors"
    WORKDAY = "workday"
    MOODLE = "moodle"


class SyncStatus(enum.StrEnum):
    """Outcome of one sync run."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class LtiDeploymentStatus(enum.StrEnum):
    """A deployment first seen in a launch waits for an admin (unless auto-approved)."""

    PENDING = "pending"
    APPROVED = "approved"
    REVOKED = "revoked"


class ToolKeyStatus(enum.StrEnum):
    """current signs; previous is still published (rotation overlap); retired is neither."""

    CURRENT = "current"
    PREVIOUS = "previous"
    RETIRED = "retired"


def _org_fk(*, index: bool = True) -> Mapped[int]:
    return mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=index)


# --------------------------------------------------------------------------- tenancy


class Organization(Base):
    """A tenant. Nothing ever crosses organizations."""

    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # How LTI users are linked to HRIS people: "email" or "sourcedid".
    identity_link_rule: Mapped[str] = mapped_column(String(16), default="email")
    # Personal data of people inactive for longer than this is erased (None: keep).
    retention_days: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        CheckConstraint("identity_link_rule IN ('email', 'sourcedid')", name="link_rule"),
        CheckConstraint("retention_days IS NULL OR retention_days > 0", name="retention"),
    )


# --------------------------------------------------------------------------- people


class Person(Base):
    """One human, whatever systems they come from."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Indexed through uq_people_org_id_id (org_id first), which identities refer to.
    org_id: Mapped[int] = _org_fk(index=False)
    given_name: Mapped[str] = mapped_column(String(120))
    family_name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254), default=None)
    department: Mapped[str | None] = mapped_column(String(120), default=None)
    division: Mapped[str | None] = mapped_column(String(120), default=None)
    location: Mapped[str | None] = mapped_column(String(120), default=None)
    country: Mapped[str | None] = mapped_column(String(2), default=None)
    time_zone: Mapped[str | None] = mapped_column(String(64), default=None)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    job_title: Mapped[str | None] = mapped_column(String(200), default=None)
    job_level: Mapped[int | None] = mapped_column(Integer, default=None)
    hire_date: Mapped[date | None] = mapped_column(Date, default=None)
    manager_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True, default=None
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Last day of employment from the HRIS (leavers); drives retention figures.
    left_on: Mapped[date | None] = mapped_column(Date, default=None)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    manager: Mapped[Person | None] = relationship(remote_side=[id], lazy="raise_on_sql")
    identities: Mapped[list[PersonIdentity]] = relationship(
        back_populates="person", cascade="all, delete-orphan", order_by="PersonIdentity.id"
    )

    __table_args__ = (
        Index("ix_people_org_id_email", "org_id", "email"),
        # The target of identities' (org_id, person_id): an identity is always of a person
        # of its own organization, checked by one foreign key instead of two.
        UniqueConstraint("org_id", "id"),
        CheckConstraint("manager_id IS NULL OR manager_id <> id", name="not_own_manager"),
    )

    @property
    def full_name(self) -> str:
        """Given and family name."""
        return f"{self.given_name} {self.family_name}"


class PersonIdentity(Base):
    """A person's id in one source: ``successfactors:<conn>``, ``lti:<reg>``, etc."""

    __tablename__ = "person_identities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # (org_id, person_id) refers to the person *in this organization* (one foreign key:
    # a sync writes 100,000 identities; the organization's deletion cascades via people).
    org_id: Mapped[int] = mapped_column(Integer)
    person_id: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(120))
    external_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    person: Mapped[Person] = relationship(back_populates="identities")

    __table_args__ = (
        ForeignKeyConstraint(
            ["org_id", "person_id"], ["people.org_id", "people.id"], ondelete="CASCADE"
        ),
        UniqueConstraint("org_id", "source", "external_id"),
        # One identity per source and person (the person fixes the organization); it
        # also finds a person's identities, and those the people key cascades to.
        UniqueConstraint("person_id", "source"),
    )


class Skill(Base):
    """A competency, e.g. ``AI-TOOLS`` in category Technology."""

    __tablename__ = "skills"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    name_de: Mapped[str | None] = mapped_column(String(200), default=None)
    category: Mapped[SkillCategory] = mapped_column(str_enum(SkillCategory, "skill_category"))

    identities: Mapped[list[SkillIdentity]] = relationship(
        back_populates="skill", cascade="all, delete-orphan"
    )

    __table_args__ = (UniqueConstraint("org_id", "code"),)


class SkillIdentity(Base):
    """A skill's id in one source (SuccessFactors competency, Moodle competency …)."""

    __tablename__ = "skill_identities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    skill_id: Mapped[int] = mapped_column(ForeignKey("skills.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(120))
    external_id: Mapped[str] = mapped_column(String(255))

    skill: Mapped[Skill] = relationship(back_populates="identities")

    __table_args__ = (UniqueConstraint("org_id", "source", "external_id"),)


class PersonSkill(Base):
    """A person's level (1–5) in one skill, from one source, at one date."""

    __tablename__ = "person_skills"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    skill_id: Mapped[int] = mapped_column(ForeignKey("skills.id", ondelete="CASCADE"), index=True)
    level: Mapped[int] = mapped_column(Integer)
    source: Mapped[SkillSource] = mapped_column(str_enum(SkillSource, "skill_source"))
    assessed_on: Mapped[date] = mapped_column(Date)

    __table_args__ = (
        UniqueConstraint("org_id", "person_id", "skill_id", "source"),
        CheckConstraint("level BETWEEN 1 AND 5", name="level_range"),
    )


# --------------------------------------------------------------------------- programs


class Program(Base):
    """A cohort running one reverse-mentoring format over a period."""

    __tablename__ = "programs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    format: Mapped[ProgramFormat] = mapped_column(str_enum(ProgramFormat, "program_format"))
    status: Mapped[ProgramStatus] = mapped_column(
        str_enum(ProgramStatus, "program_status"), default=ProgramStatus.DRAFT
    )
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    cadence_days: Mapped[int] = mapped_column(Integer, default=30)
    min_session_minutes: Mapped[int] = mapped_column(Integer, default=30)
    target_sessions: Mapped[int] = mapped_column(Integer, default=6)
    # Months from 1, e.g. month 1 is "Developer experience".
    theme_plan: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Weights, hard rules, objective, group sizes — validated by plugin.services.
    matching_settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Keys min_sessions, min_minutes, require_post_assessment.
    completion_rule: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Skill codes both roles self-assess before and after; empty = the whole catalogue.
    assessment_skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    confidentiality_text: Mapped[str] = mapped_column(Text, default="")
    confidentiality_version: Mapped[str] = mapped_column(String(32), default="1")
    require_senior_consent: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("org_id", "name"),
        CheckConstraint("ends_on > starts_on", name="dates"),
        CheckConstraint("cadence_days > 0", name="cadence"),
        CheckConstraint("min_session_minutes > 0", name="min_minutes"),
        CheckConstraint("target_sessions > 0", name="target_sessions"),
    )


class Enrollment(Base):
    """A person in a program as mentor (junior) or mentee (senior), by consent."""

    __tablename__ = "enrollments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    program_id: Mapped[int] = mapped_column(
        ForeignKey("programs.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    role: Mapped[EnrollmentRole] = mapped_column(str_enum(EnrollmentRole, "enrollment_role"))
    status: Mapped[EnrollmentStatus] = mapped_column(
        str_enum(EnrollmentStatus, "enrollment_status"), default=EnrollmentStatus.ACTIVE
    )
    consent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    consent_version: Mapped[str] = mapped_column(String(32))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # {"AI-TOOLS": 4, ...}: topic code -> level offered (mentor) / wanted (mentee)
    topics_offered: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    topics_wanted: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    capacity: Mapped[int] = mapped_column(Integer, default=1)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Keys weekdays, hours, mode (remote / in_person / hybrid), note.
    availability: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    avoid_person_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    prefer_person_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    person: Mapped[Person] = relationship(lazy="joined")

    __table_args__ = (
        UniqueConstraint("org_id", "program_id", "person_id", "role"),
        CheckConstraint("capacity >= 1", name="capacity"),
    )


class ProgramCoordinator(Base):
    """A person who coordinates a program: sees its aggregates and receives its alerts."""

    __tablename__ = "program_coordinators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    program_id: Mapped[int] = mapped_column(
        ForeignKey("programs.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    added_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("org_id", "program_id", "person_id"),)


class Consent(Base):
    """What a person agreed to, when, and which version — and its withdrawal."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    program_id: Mapped[int | None] = mapped_column(
        ForeignKey("programs.id", ondelete="CASCADE"), index=True, default=None
    )
    # What was agreed to: participation, confidentiality, or data of one category.
    purpose: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


# --------------------------------------------------------------------------- matching


class MatchRun(Base):
    """One solver run: inputs, settings, objective, result and who approved it."""

    __tablename__ = "match_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    program_id: Mapped[int] = mapped_column(
        ForeignKey("programs.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[MatchRunStatus] = mapped_column(str_enum(MatchRunStatus, "match_run_status"))
    objective: Mapped[str] = mapped_column(String(32))
    solver: Mapped[str] = mapped_column(String(64))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    objective_value: Mapped[float | None] = mapped_column(Float, default=None)
    optimal: Mapped[bool | None] = mapped_column(Boolean, default=None)
    duration_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    started_by: Mapped[str] = mapped_column(String(200))
    approved_by: Mapped[str | None] = mapped_column(String(200), default=None)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Tandem(Base):
    """A pair or group produced by a match run (or formed by hand)."""

    __tablename__ = "tandems"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    program_id: Mapped[int] = mapped_column(
        ForeignKey("programs.id", ondelete="CASCADE"), index=True
    )
    match_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("match_runs.id", ondelete="SET NULL"), index=True, default=None
    )
    status: Mapped[TandemStatus] = mapped_column(
        str_enum(TandemStatus, "tandem_status"), default=TandemStatus.PROPOSED
    )
    score: Mapped[float | None] = mapped_column(Float, default=None)
    # Factor breakdown plus rendered English and German sentences.
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    # A coordinator approved (published) the proposal; members then consent.
    approved_by: Mapped[str | None] = mapped_column(String(200), default=None)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Warnings a coordinator must see, e.g. a locked tandem that broke a hard rule.
    flags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Kick-off: expectations, goals, meeting mode.
    kickoff: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dissolved_reason: Mapped[str | None] = mapped_column(Text, default=None)
    dissolved_by: Mapped[str | None] = mapped_column(String(200), default=None)
    no_fault: Mapped[bool] = mapped_column(Boolean, default=False)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    members: Mapped[list[TandemMember]] = relationship(
        back_populates="tandem", cascade="all, delete-orphan", order_by="TandemMember.id"
    )


class TandemMember(Base):
    """A person in a tandem, with their consent and confidentiality acceptance."""

    __tablename__ = "tandem_members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    tandem_id: Mapped[int] = mapped_column(ForeignKey("tandems.id", ondelete="CASCADE"), index=True)
    enrollment_id: Mapped[int] = mapped_column(
        ForeignKey("enrollments.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    role: Mapped[EnrollmentRole] = mapped_column(str_enum(EnrollmentRole, "member_role"))
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    declined_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    confidentiality_accepted_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), default=None
    )

    tandem: Mapped[Tandem] = relationship(back_populates="members")

    __table_args__ = (UniqueConstraint("org_id", "tandem_id", "person_id"),)


# --------------------------------------------------------------------------- tracking


class MentoringSession(Base):
    """A meeting of a tandem: planned, held or cancelled."""

    __tablename__ = "mentoring_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    tandem_id: Mapped[int] = mapped_column(ForeignKey("tandems.id", ondelete="CASCADE"), index=True)
    status: Mapped[SessionStatus] = mapped_column(
        str_enum(SessionStatus, "session_status"), default=SessionStatus.PLANNED
    )
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime())
    held_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    planned_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    theme: Mapped[str | None] = mapped_column(String(200), default=None)
    topic: Mapped[str | None] = mapped_column(String(200), default=None)
    cancelled_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), default=None
    )
    cancelled_by_role: Mapped[EnrollmentRole | None] = mapped_column(
        str_enum(EnrollmentRole, "cancelled_by_role"), default=None
    )
    cancel_reason: Mapped[str | None] = mapped_column(Text, default=None)
    # Visible only to the tandem's members (enforced in plugin services).
    private_notes: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("minutes IS NULL OR minutes > 0", name="minutes_positive"),
        Index("ix_mentoring_sessions_tandem_id_status", "tandem_id", "status"),
    )


class Feedback(Base):
    """One member's feedback after one session (two-way), with the junior's safety pulse."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    session_id: Mapped[int] = mapped_column(
        ForeignKey("mentoring_sessions.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    role: Mapped[EnrollmentRole] = mapped_column(str_enum(EnrollmentRole, "feedback_role"))
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text, default=None)
    safety_pulse: Mapped[int | None] = mapped_column(Integer, default=None)
    # The comment may be shown to the tandem partner; rating and pulse never are.
    shared_with_partner: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("org_id", "session_id", "author_id"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        CheckConstraint("safety_pulse IS NULL OR safety_pulse BETWEEN 1 AND 5", name="pulse"),
    )


class Goal(Base):
    """A goal a tandem sets itself."""

    __tablename__ = "goals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    tandem_id: Mapped[int] = mapped_column(ForeignKey("tandems.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), default=None
    )
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[GoalStatus] = mapped_column(
        str_enum(GoalStatus, "goal_status"), default=GoalStatus.OPEN
    )
    due_on: Mapped[date | None] = mapped_column(Date, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Action(Base):
    """Something the senior changed, credited to the junior who prompted it."""

    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    tandem_id: Mapped[int] = mapped_column(ForeignKey("tandems.id", ondelete="CASCADE"), index=True)
    senior_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), default=None
    )
    credited_mentor_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), default=None
    )
    description: Mapped[str] = mapped_column(Text)
    taken_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Assessment(Base):
    """A pre, post or follow-up self-assessment of one enrollment."""

    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    program_id: Mapped[int] = mapped_column(
        ForeignKey("programs.id", ondelete="CASCADE"), index=True
    )
    enrollment_id: Mapped[int] = mapped_column(
        ForeignKey("enrollments.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[AssessmentKind] = mapped_column(str_enum(AssessmentKind, "assessment_kind"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    answers: Mapped[list[AssessmentAnswer]] = relationship(
        back_populates="assessment", cascade="all, delete-orphan"
    )

    __table_args__ = (UniqueConstraint("org_id", "enrollment_id", "kind"),)


class AssessmentAnswer(Base):
    """A self-rated level (1–5) for one skill within an assessment."""

    __tablename__ = "assessment_answers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    assessment_id: Mapped[int] = mapped_column(
        ForeignKey("assessments.id", ondelete="CASCADE"), index=True
    )
    skill_id: Mapped[int] = mapped_column(ForeignKey("skills.id", ondelete="CASCADE"), index=True)
    level: Mapped[int] = mapped_column(Integer)

    assessment: Mapped[Assessment] = relationship(back_populates="answers")

    __table_args__ = (
        UniqueConstraint("org_id", "assessment_id", "skill_id"),
        CheckConstraint("level BETWEEN 1 AND 5", name="level_range"),
    )


class SurveyAnswer(Base):
    """The end-of-program survey of one enrollment."""

    __tablename__ = "survey_answers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    program_id: Mapped[int] = mapped_column(
        ForeignKey("programs.id", ondelete="CASCADE"), index=True
    )
    enrollment_id: Mapped[int] = mapped_column(
        ForeignKey("enrollments.id", ondelete="CASCADE"), index=True
    )
    satisfaction: Mapped[int] = mapped_column(Integer)
    relationship_formed: Mapped[bool] = mapped_column(Boolean)
    would_continue: Mapped[bool] = mapped_column(Boolean)
    would_do_again: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str | None] = mapped_column(Text, default=None)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("org_id", "enrollment_id"),
        CheckConstraint("satisfaction BETWEEN 1 AND 5", name="satisfaction_range"),
    )


class Completion(Base):
    """An enrollment that met its program's completion rule."""

    __tablename__ = "completions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    program_id: Mapped[int] = mapped_column(
        ForeignKey("programs.id", ondelete="CASCADE"), index=True
    )
    enrollment_id: Mapped[int] = mapped_column(
        ForeignKey("enrollments.id", ondelete="CASCADE"), index=True
    )
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sessions_held: Mapped[int] = mapped_column(Integer)
    minutes: Mapped[int] = mapped_column(Integer)
    rule: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("org_id", "enrollment_id"),)


class Alert(Base):
    """Something a program's coordinators should look at (DESIGN §2, mentoring.md §4)."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    program_id: Mapped[int] = mapped_column(
        ForeignKey("programs.id", ondelete="CASCADE"), index=True
    )
    tandem_id: Mapped[int | None] = mapped_column(
        ForeignKey("tandems.id", ondelete="CASCADE"), index=True, default=None
    )
    # The person the alert is about (a senior who cancels, a junior who feels unsafe).
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), default=None
    )
    kind: Mapped[AlertKind] = mapped_column(str_enum(AlertKind, "alert_kind"))
    status: Mapped[AlertStatus] = mapped_column(
        str_enum(AlertStatus, "alert_status"), default=AlertStatus.OPEN
    )
    # One open alert per cause: a re-scan never raises the same alert twice.
    dedup_key: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Coordinator person ids the alert was addressed to when raised.
    recipients: Mapped[list[int]] = mapped_column(JSON, default=list)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    handled_by: Mapped[str | None] = mapped_column(String(200), default=None)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)

    __table_args__ = (
        UniqueConstraint("org_id", "dedup_key"),
        Index("ix_alerts_program_id_status", "program_id", "status"),
    )


# --------------------------------------------------------------------------- LTI


class LtiRegistration(Base):
    """An LTI 1.3 platform (issuer + client id) registered for one organization.

    ``(issuer, client_id)`` is unique across all organizations: a launch finds its
    registration by ``iss`` and ``aud``/``client_id`` before it knows the tenant.
    """

    __tablename__ = "lti_registrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    name: Mapped[str] = mapped_column(String(200))
    # Stored normalised: no trailing slash, lower-case scheme and host.
    issuer: Mapped[str] = mapped_column(String(255))
    client_id: Mapped[str] = mapped_column(String(255))
    auth_login_url: Mapped[str] = mapped_column(String(1000))
    auth_token_url: Mapped[str] = mapped_column(String(1000))
    auth_audience: Mapped[str | None] = mapped_column(String(1000), default=None)
    jwks_url: Mapped[str] = mapped_column(String(1000))
    auto_approve_deployments: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))

    __table_args__ = (UniqueConstraint("issuer", "client_id"),)


class LtiDeployment(Base):
    """One deployment of a registration (Moodle: the tool type id, e.g. ``"1"``)."""

    __tablename__ = "lti_deployments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("lti_registrations.id", ondelete="CASCADE"), index=True
    )
    deployment_id: Mapped[str] = mapped_column(String(255))
    status: Mapped[LtiDeploymentStatus] = mapped_column(
        str_enum(LtiDeploymentStatus, "lti_deployment_status"),
        default=LtiDeploymentStatus.PENDING,
    )
    # None until a launch uses it (deployments an admin registers up front).
    first_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    approved_by: Mapped[str | None] = mapped_column(String(200), default=None)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    registration: Mapped[LtiRegistration] = relationship(lazy="joined")

    __table_args__ = (
        UniqueConstraint("registration_id", "deployment_id"),
        Index("ix_lti_deployments_org_id_status", "org_id", "status"),
    )


class LtiLink(Base):
    """A resource link of a platform course that launches Tandem, and what it shows.

    Written on every resource-link launch (and by deep linking): which course
    (``context_id``) it sits in, which activity and program it opens, and the service
    endpoints the platform sent with it — the AGS line item(s) that completion and
    progress are posted to, and the NRPS roster URL a coordinator imports from.
    """

    __tablename__ = "lti_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("lti_registrations.id", ondelete="CASCADE"), index=True
    )
    deployment_id: Mapped[str] = mapped_column(String(255))
    context_id: Mapped[str | None] = mapped_column(String(255), default=None)
    context_title: Mapped[str | None] = mapped_column(String(500), default=None)
    resource_link_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(500), default=None)
    # One of lti.activities (program, my_tandem, sessions, self_assessment, feedback,
    # dashboard); None for a plain link without a custom "activity".
    activity: Mapped[str | None] = mapped_column(String(32), default=None)
    program_id: Mapped[int | None] = mapped_column(
        ForeignKey("programs.id", ondelete="SET NULL"), default=None, index=True
    )
    # AGS: the link's own line item, the course's line item container, granted scopes.
    lineitem_url: Mapped[str | None] = mapped_column(String(1000), default=None)
    lineitems_url: Mapped[str | None] = mapped_column(String(1000), default=None)
    ags_scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # NRPS: the course roster.
    memberships_url: Mapped[str | None] = mapped_column(String(1000), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("registration_id", "resource_link_id"),)


class ProgramInvitation(Base):
    """A person invited to a program, e.g. from a course roster (NRPS) or an HRIS list.

    An invitation is not an enrollment: taking part is voluntary, so the person enrols
    (with their consent, role and topics) themselves. Importing the same roster again
    changes nothing.
    """

    __tablename__ = "program_invitations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    program_id: Mapped[int] = mapped_column(
        ForeignKey("programs.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    # Where it came from: "nrps:<lti link id>", "hris", "csv" …
    source: Mapped[str] = mapped_column(String(120))
    # The role in the source (e.g. the LIS role of the course membership), informational.
    source_role: Mapped[str | None] = mapped_column(String(255), default=None)
    invited_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("program_id", "person_id"),)


class ToolKey(Base):
    """An RSA key pair of the tool, global to this Tandem deployment (one JWKS URL).

    The private part is a Fernet token (:class:`plugin.crypto.SecretBox`), erased when the
    key is retired. At most one key is ``current`` (a partial unique index), so two hosts
    creating the first key at once cannot both succeed.
    """

    __tablename__ = "tool_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # RFC 7638 JWK thumbprint (SHA-256, base64url): 43 characters.
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    public_pem: Mapped[str] = mapped_column(Text)
    private_pem_encrypted: Mapped[str | None] = mapped_column(Text)
    status: Mapped[ToolKeyStatus] = mapped_column(
        str_enum(ToolKeyStatus, "tool_key_status"), default=ToolKeyStatus.CURRENT
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    __table_args__ = (
        Index(
            "uq_tool_keys_one_current",
            "status",
            unique=True,
            sqlite_where=text("status = 'current'"),
            postgresql_where=text("status = 'current'"),
        ),
    )


class LtiCacheEntry(Base):
    """The shared store of OIDC state, used nonces and launch data, with an expiry.

    Lives in the database so any host serves the next request (DESIGN §4).
    """

    __tablename__ = "lti_cache"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


# --------------------------------------------------------------------------- integration


class WritebackTarget(Base):
    """Where an organization's completions, hours and skill gains are written back.

    ``sink`` names a registered sink (``journal``, ``lti_ags``, ``successfactors``,
    ``workday``, ``moodle``); ``kinds`` limits the message kinds it receives.
    """

    __tablename__ = "writeback_targets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    name: Mapped[str] = mapped_column(String(120))
    sink: Mapped[str] = mapped_column(String(64))
    kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("connections.id", ondelete="SET NULL"), default=None
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("org_id", "name"),)


class OutboxMessage(Base):
    """A durable write-back message (completion, hours, skill gain) to one target.

    ``program_id`` is the program the message is about (``None``: about none), set by
    whoever enqueues it, so a program's messages are found by index rather than by
    reading payloads. Deleting the program keeps its messages (the record of what was
    sent) and clears the column.
    """

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    kind: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(200))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    program_id: Mapped[int | None] = mapped_column(
        ForeignKey("programs.id", ondelete="SET NULL"), default=None
    )
    status: Mapped[OutboxStatus] = mapped_column(
        str_enum(OutboxStatus, "outbox_status"), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=8)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(200), default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("org_id", "idempotency_key"),
        Index("ix_outbox_messages_status_next_attempt_at", "status", "next_attempt_at"),
        # A program's messages of one status, newest first (the coordinators' write-back
        # page); also serves ON DELETE SET NULL when a program goes. Program ids are
        # unique across organizations, so org_id would add nothing to it.
        Index("ix_outbox_messages_program_id_status_id", "program_id", "status", "id"),
    )


class Connection(Base):
    """An HRIS/LMS connection; credentials are encrypted at rest."""

    __tablename__ = "connections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    kind: Mapped[ConnectionKind] = mapped_column(str_enum(ConnectionKind, "connection_kind"))
    name: Mapped[str] = mapped_column(String(120))
    # Non-secret settings: base URL, company id, client id …
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Fernet token of the JSON credentials; never logged.
    credentials_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    watermark: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("org_id", "name"),)


class SyncRun(Base):
    """A record of one sync of a connection, with its counts.

    The top-level counts are the people's; the other entities' are in ``details``.
    """

    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), index=True
    )
    full: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[SyncStatus] = mapped_column(
        str_enum(SyncStatus, "sync_status"), default=SyncStatus.RUNNING
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Written every HEARTBEAT_EVERY while the run's process lives (stale: abandoned).
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    seen: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    deactivated: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    watermark_before: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    watermark_after: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    # Per-entity counts (people, managers, skills, person_skills) and run facts
    # (duplicates, managers missing, cycles broken …); never personal data.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        # At most one running sync per connection, even when two hosts start one at once.
        Index(
            "uq_sync_runs_one_running",
            "connection_id",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
    )


class QuarantinedRecord(Base):
    """A record a sync could not accept, with its reason and raw payload."""

    __tablename__ = "quarantined_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    sync_run_id: Mapped[int] = mapped_column(
        ForeignKey("sync_runs.id", ondelete="CASCADE"), index=True
    )
    entity: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str | None] = mapped_column(String(255), default=None)
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuditEvent(Base):
    """Who did what: match approved, tandem dissolved, sync started, key rotated."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = _org_fk()
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(64), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)

    __table_args__ = (Index("ix_audit_events_org_id_action", "org_id", "action"),)
