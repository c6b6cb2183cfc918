"""Rules judged on tracked objects: zone intrusion, directional lines, routes, dwell, filters,
cooldown."""

from orchestrator.rules.engine import RuleBatch, RuleEngine
from orchestrator.rules.geometry import Polygon, Polyline
from orchestrator.rules.rules import LineRule, RouteRule, RuleHit, ZoneRule

__all__ = ["LineRule", "Polygon", "Polyline", "RouteRule", "RuleBatch", "RuleEngine", "RuleHit",
           "ZoneRule"]
