"""Where the generator's customers live and shop: countries, merchant categories, distances."""

from __future__ import annotations

import math

# country: (latitude, longitude, currency)
COUNTRIES: dict[str, tuple[float, float, str]] = {
    "FR": (46.6, 2.2, "EUR"),
    "DE": (51.2, 10.4, "EUR"),
    "ES": (40.4, -3.7, "EUR"),
    "IT": (42.8, 12.5, "EUR"),
    "NL": (52.1, 5.3, "EUR"),
    "GB": (53.0, -1.5, "GBP"),
    "US": (39.8, -98.6, "USD"),
    "CA": (56.1, -106.3, "CAD"),
    "BR": (-14.2, -51.9, "BRL"),
    "JP": (36.2, 138.3, "JPY"),
    "SG": (1.35, 103.8, "SGD"),
    "AU": (-25.3, 133.8, "AUD"),
    "IN": (20.6, 79.0, "INR"),
    "ZA": (-30.6, 22.9, "ZAR"),
    "MX": (23.6, -102.6, "MXN"),
}
CATEGORIES = [
    "grocery",
    "fuel",
    "restaurant",
    "electronics",
    "travel",
    "apparel",
    "pharmacy",
    "online_services",
    "gift_cards",
    "home",
]


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    cos = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(
        math.radians(lon2 - lon1)
    )
    return 6371.0 * math.acos(max(-1.0, min(1.0, cos)))
