"""The LTI Assignment and Grade Services sink: completion and progress in the LMS gradebook.

See :class:`connectors.lti_ags.sink.AgsSink` (the write-back sink) and
:class:`connectors.lti_ags.client.AgsClient` (token, line items, scores, results).
:mod:`connectors.lti_ags.fake` is an in-memory platform for tests (needs ``responses``).
"""

from __future__ import annotations

from connectors.lti_ags.sink import AgsSink

__all__ = ["AgsSink"]
