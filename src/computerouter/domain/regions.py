"""Regions and how far apart they are: the table placement uses to find the nearest region.

Each region is a name and a point (latitude, longitude in degrees) near the data centres it
stands for; the distance between two regions is the great-circle distance between their points
(haversine, on a sphere of 6371 km), rounded to whole kilometres. A name means the same place
whichever provider serves it, so a provider names its regions from this table (an operator's
own name not in it is still served when pinned exactly, but has no distance: it ranks last
when placement looks for the nearest).

The table holds broad areas (``us``, ``eu``, ``asia``: a provider's coarse targets) and the
usual metro codes (``iad``, ``fra``, ...). It is small on purpose: a new region is one line.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from computerouter.domain.limits import check_region
from computerouter.errors import InputError

__all__ = ["EARTH_RADIUS_KM", "REGIONS", "distance_km", "known_region", "nearest"]

EARTH_RADIUS_KM = 6371.0

REGIONS: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        # broad areas, at a central metro
        "us": (39.04, -77.49),  # us-east (Ashburn)
        "eu": (50.11, 8.68),  # central Europe (Frankfurt)
        "asia": (1.35, 103.82),  # south-east Asia (Singapore)
        # North America
        "iad": (38.94, -77.46),  # Ashburn, Virginia
        "ewr": (40.69, -74.17),  # Newark / New York
        "ord": (41.97, -87.91),  # Chicago
        "dfw": (32.90, -97.04),  # Dallas
        "sjc": (37.36, -121.93),  # San Jose
        "lax": (33.94, -118.41),  # Los Angeles
        "sea": (47.45, -122.31),  # Seattle
        "yyz": (43.68, -79.63),  # Toronto
        # South America
        "gru": (-23.43, -46.47),  # Sao Paulo
        # Europe
        "lhr": (51.47, -0.45),  # London
        "ams": (52.31, 4.76),  # Amsterdam
        "fra": (50.03, 8.57),  # Frankfurt
        "cdg": (49.01, 2.55),  # Paris
        "mad": (40.49, -3.57),  # Madrid
        "arn": (59.65, 17.92),  # Stockholm
        "waw": (52.17, 20.97),  # Warsaw
        # Asia-Pacific and Africa
        "bom": (19.09, 72.87),  # Mumbai
        "sin": (1.36, 103.99),  # Singapore
        "hkg": (22.31, 113.91),  # Hong Kong
        "nrt": (35.76, 140.39),  # Tokyo
        "syd": (-33.95, 151.18),  # Sydney
        "jnb": (-26.14, 28.25),  # Johannesburg
    }
)


def known_region(region: str) -> str:
    """``region`` if the table has it, else one line naming the regions there are."""
    check_region(region)
    if region not in REGIONS:
        raise InputError(f"unknown region {region!r} (known: {', '.join(REGIONS)})")
    return region


def distance_km(a: str, b: str) -> int | None:
    """Great-circle distance between two regions of the table; ``None`` if either is not in it."""
    if a == b:
        return 0
    if a not in REGIONS or b not in REGIONS:
        return None
    (lat1, lon1), (lat2, lon2) = (REGIONS[a], REGIONS[b])
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return round(2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h)))


def nearest(origin: str, served: Iterable[str]) -> tuple[str, int | None]:
    """The region of ``served`` nearest ``origin`` and its distance; regions without a distance
    come last, in the order given. ``served`` must not be empty."""
    ranked = sorted(
        enumerate(served),
        key=lambda item: (
            (0, d, item[0]) if (d := distance_km(origin, item[1])) is not None else (1, 0, item[0])
        ),
    )
    if not ranked:
        raise ValueError("nearest() needs at least one served region")
    best = ranked[0][1]
    return best, distance_km(origin, best)
