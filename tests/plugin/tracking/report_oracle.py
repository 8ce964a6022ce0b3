"""An independent recomputation of the program report from the raw tables (a test oracle).

:func:`recompute` rebuilds every figure of :func:`plugin.services.report.build_report`
from plain SQL (``sqlalchemy.text``) and Python arithmetic, written from the report's
definitions — it shares no code with the report service. Most figures come from SQL
aggregates (``COUNT``, ``SUM``, self-joins of assessments); medians, dates and per-person
means are computed in Python from fetched rows. Rounding uses :mod:`decimal`
(``ROUND_HALF_UP`` = half away from zero) on exact fractions.

It works on any program in any database the suite runs on (SQLite, PostgreSQL), so the
simulated demo program can be checked with it too::

    assert report_rows(build_report(s, admin, pid, as_of=d)) == report_rows(
        recompute(s, pid, as_of=d)
    )
"""

# The queries are composed from the constant fragments below, never from input.
# ruff: noqa: S608

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import JSON, Boolean, Date, text
from sqlalchemy.orm import Session

from plugin.db import UTCDateTime

ROLES = ("mentor", "mentee")
STATUSES = ("proposed", "accepted", "active", "completed", "dissolved", "rejected")
ALERT_KINDS = ("stalled", "senior_cancellations", "low_safety")
KINDS = ("pre", "post", "follow_up")

APPROVED = (
    "(t.approved_at IS NOT NULL OR t.activated_at IS NOT NULL "
    "OR t.status IN ('accepted', 'active', 'completed', 'dissolved'))"
)
ACTIVATED_TANDEMS = "SELECT id FROM tandems WHERE program_id = :pid AND activated_at IS NOT NULL"
ACTIVATED_MEMBERS = (
    "SELECT tm.enrollment_id FROM tandem_members tm JOIN tandems t ON t.id = tm.tandem_id "
    "WHERE t.program_id = :pid AND t.activated_at IS NOT NULL AND tm.role = :role"
)
ACTIVATED_JUNIORS = (
    "SELECT tm.person_id FROM tandem_members tm JOIN tandems t ON t.id = tm.tandem_id "
    "WHERE t.program_id = :pid AND t.activated_at IS NOT NULL AND tm.role = 'mentor'"
)


def _round(q: Fraction, places: int) -> float:
    exact = Decimal(q.numerator) / Decimal(q.denominator)
    return float(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


class _Oracle:
    def __init__(self, session: Session, program_id: int, as_of: date, min_group: int) -> None:
        self.s = session
        self.pid = program_id
        self.as_of = as_of
        self.min_group = min_group

    # ------------------------------------------------------------------ plumbing

    def rows(self, sql: str, types: dict[str, Any] | None = None, **params: Any) -> list[Any]:
        stmt = text(sql)
        if types:
            stmt = stmt.columns(**types)  # type: ignore[assignment]
        return list(self.s.execute(stmt, {"pid": self.pid, **params}))

    def one(self, sql: str, **params: Any) -> Any:
        return self.s.execute(text(sql), {"pid": self.pid, **params}).one()

    def num(self, sql: str, **params: Any) -> int:
        value = self.s.execute(text(sql), {"pid": self.pid, **params}).scalar()
        return int(value or 0)

    def fig(self, value: Any, n: int) -> dict[str, Any]:
        if n < self.min_group:
            return {"value": None, "n": n, "suppressed": True}
        return {"value": value, "n": n, "suppressed": False}

    @staticmethod
    def rate(num: int, den: int) -> float | None:
        return _round(Fraction(num, den), 4) if den else None

    @staticmethod
    def mean(total: int | Fraction, count: int) -> float | None:
        return _round(Fraction(total) / count, 2) if count else None

    # ------------------------------------------------------------------ program

    def program(self) -> dict[str, Any]:
        p = self.rows(
            "SELECT id, org_id, name, format, status, starts_on, ends_on, target_sessions, "
            "cadence_days, min_session_minutes, assessment_skills FROM programs WHERE id = :pid",
            {"starts_on": Date(), "ends_on": Date(), "assessment_skills": JSON()},
        )[0]
        self.org_id = p.org_id
        self.starts_on = p.starts_on
        self.target = p.target_sessions
        self.min_minutes = p.min_session_minutes
        self.skill_codes = list(p.assessment_skills or [])
        return {
            "id": p.id,
            "name": p.name,
            "format": p.format,
            "status": p.status,
            "starts_on": p.starts_on.isoformat(),
            "ends_on": p.ends_on.isoformat(),
            "target_sessions": p.target_sessions,
            "cadence_days": p.cadence_days,
            "min_session_minutes": p.min_session_minutes,
            "as_of": self.as_of.isoformat(),
            "generated_at": None,
            "min_group": self.min_group,
        }

    # ------------------------------------------------------------------ L1

    def reaction(self) -> dict[str, Any]:
        base = (
            "FROM feedback f JOIN mentoring_sessions ms ON ms.id = f.session_id "
            "JOIN tandems t ON t.id = ms.tandem_id WHERE t.program_id = :pid "
        )
        ratings = {}
        for role in ROLES:
            k, total, authors = self.one(
                f"SELECT COUNT(*), SUM(f.rating), COUNT(DISTINCT f.author_id) {base}"
                "AND f.role = :role",
                role=role,
            )
            ratings[role] = {
                "mean": self.fig(self.mean(int(total or 0), k), authors),
                "count": self.fig(k, authors),
            }
        k, total, low, juniors = self.one(
            "SELECT COUNT(*), SUM(f.safety_pulse), "
            "SUM(CASE WHEN f.safety_pulse <= 2 THEN 1 ELSE 0 END), COUNT(DISTINCT f.author_id) "
            f"{base}AND f.role = 'mentor' AND f.safety_pulse IS NOT NULL"
        )
        safety = {
            "pulse_mean": self.fig(self.mean(int(total or 0), k), juniors),
            "low_share": self.fig(self.rate(int(low or 0), k), juniors),
            "pulses": self.fig(k, juniors),
        }
        survey = {}
        for role in ROLES:
            n, sat, rel, cont, again = self.one(
                "SELECT COUNT(*), SUM(sa.satisfaction), "
                "SUM(CASE WHEN sa.relationship_formed THEN 1 ELSE 0 END), "
                "SUM(CASE WHEN sa.would_continue THEN 1 ELSE 0 END), "
                "SUM(CASE WHEN sa.would_do_again THEN 1 ELSE 0 END) "
                "FROM survey_answers sa JOIN enrollments e ON e.id = sa.enrollment_id "
                "WHERE sa.program_id = :pid AND e.role = :role",
                role=role,
            )
            members = self.num(
                f"SELECT COUNT(DISTINCT x.enrollment_id) FROM ({ACTIVATED_MEMBERS}) x", role=role
            )
            answered = self.num(
                "SELECT COUNT(DISTINCT sa.enrollment_id) FROM survey_answers sa "
                "JOIN enrollments e ON e.id = sa.enrollment_id "
                f"WHERE sa.program_id = :pid AND e.role = :role AND sa.enrollment_id IN "
                f"({ACTIVATED_MEMBERS})",
                role=role,
            )
            survey[role] = {
                "respondents": self.fig(n, n),
                "response_rate": self.fig(self.rate(answered, members), members),
                "satisfaction_mean": self.fig(self.mean(int(sat or 0), n), n),
                "relationship_formed_share": self.fig(self.rate(int(rel or 0), n), n),
                "would_continue_share": self.fig(self.rate(int(cont or 0), n), n),
                "would_do_again_share": self.fig(self.rate(int(again or 0), n), n),
            }
        return {"ratings": ratings, "safety": safety, "survey": survey}

    # ------------------------------------------------------------------ L2

    def skills(self) -> list[dict[str, Any]]:
        catalogue = {
            r.code: r
            for r in self.rows(
                "SELECT id, code, name, name_de, category FROM skills WHERE org_id = :org",
                org=self.org_id,
            )
        }
        if self.skill_codes:
            out = []
            for code in dict.fromkeys(self.skill_codes):
                r = catalogue.get(code)
                out.append(
                    {
                        "id": None if r is None else r.id,
                        "code": code,
                        "name": code if r is None else r.name,
                        "name_de": None if r is None else r.name_de,
                        "category": None if r is None else r.category,
                    }
                )
            return out
        used = {
            r.skill_id
            for r in self.rows(
                "SELECT DISTINCT aa.skill_id FROM assessment_answers aa "
                "JOIN assessments a ON a.id = aa.assessment_id WHERE a.program_id = :pid"
            )
        }
        return [
            {
                "id": r.id,
                "code": r.code,
                "name": r.name,
                "name_de": r.name_de,
                "category": r.category,
            }
            for r in sorted(catalogue.values(), key=lambda r: r.code)
            if r.id in used
        ]

    PAIRS = (
        "FROM enrollments e "
        "JOIN assessments a1 ON a1.enrollment_id = e.id AND a1.kind = 'pre' "
        "AND a1.program_id = :pid "
        "JOIN assessment_answers x1 ON x1.assessment_id = a1.id "
        "JOIN assessments a2 ON a2.enrollment_id = e.id AND a2.kind = :later "
        "AND a2.program_id = :pid "
        "JOIN assessment_answers x2 ON x2.assessment_id = a2.id AND x2.skill_id = x1.skill_id "
        "WHERE e.program_id = :pid AND e.role = :role "
    )

    def learning(self) -> dict[str, Any]:
        skills = self.skills()
        items = []
        for skill in skills:
            by_role = {}
            for role in ROLES:
                if skill["id"] is None:
                    n, pre, post, better, nf, gain_f = 0, 0, 0, 0, 0, 0
                else:
                    n, pre, post, better = self.one(
                        "SELECT COUNT(*), SUM(x1.level), SUM(x2.level), "
                        "SUM(CASE WHEN x2.level > x1.level THEN 1 ELSE 0 END) "
                        f"{self.PAIRS}AND x1.skill_id = :sid",
                        later="post",
                        role=role,
                        sid=skill["id"],
                    )
                    nf, pre_f, post_f = self.one(
                        f"SELECT COUNT(*), SUM(x1.level), SUM(x2.level) {self.PAIRS}"
                        "AND x1.skill_id = :sid",
                        later="follow_up",
                        role=role,
                        sid=skill["id"],
                    )
                    gain_f = int(post_f or 0) - int(pre_f or 0)
                pre, post = int(pre or 0), int(post or 0)
                by_role[role] = {
                    "pre_mean": self.fig(self.mean(pre, n), n),
                    "post_mean": self.fig(self.mean(post, n), n),
                    "gain_mean": self.fig(self.mean(post - pre, n), n),
                    "improved_share": self.fig(self.rate(int(better or 0), n), n),
                    "follow_up_gain_mean": self.fig(self.mean(gain_f, nf), nf),
                }
            info = {k: skill[k] for k in ("code", "name", "name_de", "category")}
            items.append({**info, "by_role": by_role})
        ids = {s["id"] for s in skills if s["id"] is not None}
        overall = {}
        counts = {}
        for role in ROLES:
            means = {}
            for later in ("post", "follow_up"):
                per: dict[int, list[int]] = defaultdict(list)
                for r in self.rows(
                    f"SELECT e.id AS eid, x1.skill_id AS sid, x2.level - x1.level AS gain "
                    f"{self.PAIRS}",
                    later=later,
                    role=role,
                ):
                    if r.sid in ids:
                        per[r.eid].append(r.gain)
                values = [Fraction(sum(g), len(g)) for g in per.values()]
                means[later] = self.fig(
                    self.mean(sum(values, Fraction(0)), len(values)), len(values)
                )
            overall[role] = {"gain_mean": means["post"], "follow_up_gain_mean": means["follow_up"]}
            enrolled = self.num(
                "SELECT COUNT(*) FROM enrollments WHERE program_id = :pid AND role = :role",
                role=role,
            )
            by_kind = dict(
                self.rows(
                    "SELECT a.kind, COUNT(*) FROM assessments a "
                    "JOIN enrollments e ON e.id = a.enrollment_id "
                    "WHERE a.program_id = :pid AND e.program_id = :pid AND e.role = :role "
                    "GROUP BY a.kind",
                    role=role,
                )
            )
            counts[role] = {k: self.fig(int(by_kind.get(k, 0)), enrolled) for k in KINDS}
        return {"skills": items, "overall": overall, "assessments": counts}

    # ------------------------------------------------------------------ L3

    def behaviour(self) -> dict[str, Any]:
        k, met, dropped, still_open, tandems, tandems_met = self.one(
            "SELECT COUNT(*), "
            "SUM(CASE WHEN g.status = 'met' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN g.status = 'dropped' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN g.status IN ('open', 'in_progress') THEN 1 ELSE 0 END), "
            "COUNT(DISTINCT g.tandem_id), "
            "COUNT(DISTINCT CASE WHEN g.status = 'met' THEN g.tandem_id END) "
            "FROM goals g JOIN tandems t ON t.id = g.tandem_id WHERE t.program_id = :pid"
        )
        met = int(met or 0)
        goals = {
            "set": self.fig(k, tandems),
            "met": self.fig(met, tandems),
            "dropped": self.fig(int(dropped or 0), tandems),
            "open": self.fig(int(still_open or 0), tandems),
            "met_share": self.fig(self.rate(met, k), tandems),
            "tandems_with_goals": self.fig(tandems, tandems),
            "tandems_with_met_goal": self.fig(tandems_met, tandems),
            "tandems_with_met_goal_share": self.fig(self.rate(tandems_met, tandems), tandems),
        }
        activated = self.num(f"SELECT COUNT(*) FROM ({ACTIVATED_TANDEMS}) x")
        logged, with_action = self.one(
            "SELECT COUNT(*), COUNT(DISTINCT a.tandem_id) FROM actions a "
            f"WHERE a.tandem_id IN ({ACTIVATED_TANDEMS})"
        )
        juniors = self.num(f"SELECT COUNT(DISTINCT x.person_id) FROM ({ACTIVATED_JUNIORS}) x")
        credited = self.num(
            "SELECT COUNT(DISTINCT a.credited_mentor_id) FROM actions a "
            f"WHERE a.tandem_id IN ({ACTIVATED_TANDEMS}) "
            f"AND a.credited_mentor_id IN ({ACTIVATED_JUNIORS})"
        )
        actions = {
            "logged": self.fig(logged, activated),
            "tandems_with_action": self.fig(with_action, activated),
            "tandems_with_action_share": self.fig(self.rate(with_action, activated), activated),
            "juniors_credited": self.fig(credited, juniors),
            "per_activated_tandem": self.fig(self.mean(logged, activated), activated),
        }
        return {"goals": goals, "actions": actions}

    # ------------------------------------------------------------------ L4

    def results(self) -> dict[str, Any]:
        person_types = {"hire_date": Date(), "left_on": Date(), "active": Boolean()}
        participants = self.rows(
            "SELECT DISTINCT p.id, p.job_level, p.hire_date, p.left_on, p.active "
            "FROM people p JOIN tandem_members tm ON tm.person_id = p.id "
            "JOIN enrollments e ON e.id = tm.enrollment_id "
            "JOIN tandems t ON t.id = tm.tandem_id "
            "WHERE t.program_id = :pid AND t.activated_at IS NOT NULL AND e.role = 'mentor'",
            person_types,
        )
        levels = [p.job_level for p in participants if p.job_level is not None]
        band = {"min": min(levels), "max": max(levels)} if levels else None
        enrolled = {
            r.person_id
            for r in self.rows("SELECT person_id FROM enrollments WHERE program_id = :pid")
        }
        everyone = self.rows(
            "SELECT id, job_level, hire_date, left_on, active, erased_at FROM people "
            "WHERE org_id = :org",
            {**person_types, "erased_at": UTCDateTime()},
            org=self.org_id,
        )
        start = self.starts_on
        comparison = [
            p
            for p in everyone
            if band is not None
            and p.erased_at is None
            and p.id not in enrolled
            and (p.hire_date is None or p.hire_date <= start)
            and (p.left_on is None or p.left_on >= start)
            and p.job_level is not None
            and band["min"] <= p.job_level <= band["max"]
        ]
        hr = any(p.hire_date is not None or p.left_on is not None for p in everyone)
        available = hr and self.as_of >= start
        n_p, n_c = len(participants), len(comparison)
        out: dict[str, Any] = {
            "available": available,
            "reason": None if available else "unavailable",
            "as_of": self.as_of.isoformat(),
            "starts_on": start.isoformat(),
            "job_level_band": band,
            "participants": self.fig(n_p, n_p),
            "comparison": self.fig(n_c, n_c),
        }

        def stays(p: Any) -> bool:
            return bool(p.left_on > self.as_of) if p.left_on is not None else bool(p.active)

        if not available:
            out["participant_retention"] = self.fig(None, n_p)
            out["comparison_retention"] = self.fig(None, n_c)
            out["difference_pp"] = self.fig(None, min(n_p, n_c))
            return out
        kept_p = sum(1 for p in participants if stays(p))
        kept_c = sum(1 for p in comparison if stays(p))
        out["participant_retention"] = self.fig(self.rate(kept_p, n_p), n_p)
        out["comparison_retention"] = self.fig(self.rate(kept_c, n_c), n_c)
        diff = None
        if n_p and n_c:
            diff = _round((Fraction(kept_p, n_p) - Fraction(kept_c, n_c)) * 100, 2)
        out["difference_pp"] = self.fig(diff, min(n_p, n_c))
        return out

    # ------------------------------------------------------------------ process

    def process(self) -> dict[str, Any]:
        counts: dict[tuple[str, str], int] = {
            (r.role, r.status): int(r.k)
            for r in self.rows(
                "SELECT role, status, COUNT(*) AS k FROM enrollments WHERE program_id = :pid "
                "GROUP BY role, status"
            )
        }
        enrolled, matched = {}, {}
        for role in ROLES:
            active = counts.get((role, "active"), 0)
            withdrawn = counts.get((role, "withdrawn"), 0)
            everyone = active + withdrawn
            enrolled[role] = {
                "active": self.fig(active, everyone),
                "withdrawn": self.fig(withdrawn, everyone),
            }
            hit = self.num(
                "SELECT COUNT(DISTINCT e.id) FROM enrollments e "
                "JOIN tandem_members tm ON tm.enrollment_id = e.id "
                "JOIN tandems t ON t.id = tm.tandem_id "
                "WHERE e.program_id = :pid AND e.role = :role AND e.status = 'active' "
                f"AND t.program_id = :pid AND t.status <> 'rejected' AND {APPROVED}",
                role=role,
            )
            matched[role] = {
                "count": self.fig(hit, active),
                "share": self.fig(self.rate(hit, active), active),
            }

        by_status = dict(
            self.rows(
                "SELECT status, COUNT(*) FROM tandems WHERE program_id = :pid GROUP BY status"
            )
        )
        total = sum(int(v) for v in by_status.values())
        tandems = {"total": self.fig(total, total)}
        for status in STATUSES:
            tandems[status] = self.fig(int(by_status.get(status, 0)), total)

        approved = self.num(
            f"SELECT COUNT(*) FROM tandems t WHERE t.program_id = :pid AND {APPROVED}"
        )
        activated = self.num(f"SELECT COUNT(*) FROM ({ACTIVATED_TANDEMS}) x")
        first: dict[int, datetime] = {}
        started: dict[int, datetime] = {}
        for r in self.rows(
            "SELECT t.id AS tid, t.activated_at, ms.held_at, ms.scheduled_at "
            "FROM tandems t JOIN mentoring_sessions ms ON ms.tandem_id = t.id "
            "WHERE t.program_id = :pid AND t.activated_at IS NOT NULL AND ms.status = 'held'",
            {
                "activated_at": UTCDateTime(),
                "held_at": UTCDateTime(),
                "scheduled_at": UTCDateTime(),
            },
        ):
            when = r.held_at if r.held_at is not None else r.scheduled_at
            started[r.tid] = r.activated_at
            first[r.tid] = min(when, first.get(r.tid, when))
        waits = sorted(
            Fraction((first[t] - started[t]) // timedelta(microseconds=1), 86_400_000_000)
            for t in first
        )
        median = None
        if waits:
            h = len(waits) // 2
            median = _round(waits[h] if len(waits) % 2 else (waits[h - 1] + waits[h]) / 2, 2)
        activation = {
            "approved": self.fig(approved, total),
            "activated": self.fig(activated, approved),
            "rate": self.fig(self.rate(activated, approved), approved),
            "median_days_to_first_session": self.fig(median, len(waits)),
        }

        scheduled, held, qualifying, minutes, cancelled, by_mentor, by_mentee = self.one(
            "SELECT COUNT(*), "
            "SUM(CASE WHEN status = 'held' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN status = 'held' AND COALESCE(minutes, 0) >= :mm THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN status = 'held' THEN COALESCE(minutes, 0) ELSE 0 END), "
            "SUM(CASE WHEN status = 'cancelled' AND cancelled_by_role IS NOT NULL "
            "THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN status = 'cancelled' AND cancelled_by_role = 'mentor' "
            "THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN status = 'cancelled' AND cancelled_by_role = 'mentee' "
            "THEN 1 ELSE 0 END) "
            f"FROM mentoring_sessions WHERE tandem_id IN ({ACTIVATED_TANDEMS})",
            mm=self.min_minutes,
        )
        held, minutes, cancelled = int(held or 0), int(minutes or 0), int(cancelled or 0)
        reached = self.num(
            "SELECT COUNT(*) FROM tandems t WHERE t.program_id = :pid "
            "AND t.activated_at IS NOT NULL AND (SELECT COUNT(*) FROM mentoring_sessions ms "
            "WHERE ms.tandem_id = t.id AND ms.status = 'held') >= :target",
            target=self.target,
        )
        cutoff = datetime.combine(self.as_of, time(0), tzinfo=UTC)
        planned = [
            r.scheduled_at
            for r in self.rows(
                "SELECT scheduled_at FROM mentoring_sessions WHERE status = 'planned' "
                f"AND tandem_id IN ({ACTIVATED_TANDEMS})",
                {"scheduled_at": UTCDateTime()},
            )
        ]
        overdue = sum(1 for when in planned if when < cutoff)
        sessions = {
            "scheduled": self.fig(scheduled, activated),
            "held": self.fig(held, activated),
            "held_qualifying": self.fig(int(qualifying or 0), activated),
            "held_per_activated_tandem": self.fig(self.mean(held, activated), activated),
            "target_reached_share": self.fig(self.rate(reached, activated), activated),
            "held_minutes": self.fig(minutes, activated),
            "held_hours": self.fig(_round(Fraction(minutes, 60), 2), activated),
            "planned_not_held": self.fig(overdue, activated),
            "planned_upcoming": self.fig(len(planned) - overdue, activated),
            "closed_unheld": self.fig(
                self.num(
                    "SELECT COUNT(*) FROM mentoring_sessions WHERE status = 'cancelled' "
                    f"AND cancelled_by_role IS NULL AND tandem_id IN ({ACTIVATED_TANDEMS})"
                ),
                activated,
            ),
        }
        cancellations = {
            "count": self.fig(cancelled, activated),
            "share": self.fig(self.rate(cancelled, scheduled), activated),
            "by_role": {
                role: {
                    "count": self.fig(int(k or 0), activated),
                    "share": self.fig(self.rate(int(k or 0), scheduled), activated),
                }
                for role, k in (("mentor", by_mentor), ("mentee", by_mentee))
            },
        }

        dissolved, no_fault = self.one(
            "SELECT COUNT(*), SUM(CASE WHEN no_fault THEN 1 ELSE 0 END) FROM tandems "
            "WHERE program_id = :pid AND status = 'dissolved'"
        )
        dissolutions = {
            "no_fault": self.fig(int(no_fault or 0), total),
            "other": self.fig(dissolved - int(no_fault or 0), total),
        }

        all_active = counts.get(("mentor", "active"), 0) + counts.get(("mentee", "active"), 0)
        done = self.num("SELECT COUNT(*) FROM completions WHERE program_id = :pid")
        done_active = self.num(
            "SELECT COUNT(DISTINCT c.enrollment_id) FROM completions c "
            "JOIN enrollments e ON e.id = c.enrollment_id "
            "WHERE c.program_id = :pid AND e.status = 'active'"
        )
        completions: dict[str, Any] = {
            "count": self.fig(done, all_active),
            "share": self.fig(self.rate(done_active, all_active), all_active),
            "by_role": {},
        }
        for role in ROLES:
            active = counts.get((role, "active"), 0)
            mine, mine_active = self.one(
                "SELECT COUNT(*), SUM(CASE WHEN e.status = 'active' THEN 1 ELSE 0 END) "
                "FROM completions c JOIN enrollments e ON e.id = c.enrollment_id "
                "WHERE c.program_id = :pid AND e.role = :role",
                role=role,
            )
            completions["by_role"][role] = {
                "count": self.fig(mine, active),
                "share": self.fig(self.rate(int(mine_active or 0), active), active),
            }

        open_alerts = dict(
            self.rows(
                "SELECT kind, COUNT(*) FROM alerts WHERE program_id = :pid AND status = 'open' "
                "GROUP BY kind"
            )
        )
        alerts = {kind: self.fig(int(open_alerts.get(kind, 0)), activated) for kind in ALERT_KINDS}
        return {
            "enrolled": enrolled,
            "matched": matched,
            "tandems": tandems,
            "activation": activation,
            "sessions": sessions,
            "cancellations": cancellations,
            "dissolved": dissolutions,
            "completions": completions,
            "open_alerts": alerts,
        }


def recompute(
    session: Session, program_id: int, *, as_of: date, min_group: int = 5
) -> dict[str, Any]:
    """Recompute every figure of the program's report from the raw tables.

    Returns the report's shape (``program``, ``reaction``, ``learning``, ``behaviour``,
    ``results``, ``process``); ``generated_at`` is ``None``, ``results.reason`` is only
    ``None`` or ``"unavailable"`` and there are no ``definitions``.
    """
    oracle = _Oracle(session, program_id, as_of, min_group)
    program = oracle.program()
    return {
        "program": program,
        "reaction": oracle.reaction(),
        "learning": oracle.learning(),
        "behaviour": oracle.behaviour(),
        "results": oracle.results(),
        "process": oracle.process(),
    }
