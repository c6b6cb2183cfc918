"""Rules judged on tracked objects: zone intrusion, directional lines, dwell, filters, cooldown."""

from orchestrator.rules.engine import RuleBatch, RuleEngine
from orchestrator.rules.geometry import Polygon, Polyline
from orchestrator.rules.rules import LineRule, RuleHit, ZoneRule

__all__ = ["LineRule", "Polygon", "Polyline", "RuleBatch", "RuleEngine", "RuleHit", "ZoneRule"]
