"""Faker output generated once per (seed, locale) and then sampled.

Faker costs about 0.3 ms per call: a million rows cannot call it per row. Pools of a few
thousand names, streets and phrases, combined per row (first x last name, street x city),
keep the data realistic and the loader fast; the pools depend only on the seed and locale,
so the rows stay deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from seeding.errors import SeedError

POOL = 1500
CITIES = 60


def _clean(value: str) -> str:
    """COPY text format: no tabs, newlines or backslashes inside a value."""
    return value.replace("\\", "/").replace("\t", " ").replace("\n", ", ").replace("\r", "")


@dataclass(frozen=True)
class Pools:
    locale: str
    male_first: tuple[str, ...]
    male_last: tuple[str, ...]
    female_first: tuple[str, ...]
    female_last: tuple[str, ...]
    usernames: tuple[str, ...]
    email_domains: tuple[str, ...]
    phones: tuple[str, ...]
    streets: tuple[str, ...]
    cities: tuple[str, ...]
    companies: tuple[str, ...]
    sentences: tuple[str, ...]
    words: tuple[str, ...]


# Faker is imported where it is used: it costs about 0.3 s at import, which every `hotel`
# command (--help included) would pay, since the root composes `hotel seed`.
def check_locale(locale: str) -> None:
    from faker.config import AVAILABLE_LOCALES

    if locale not in AVAILABLE_LOCALES:
        raise SeedError(f"unknown locale {locale!r}: use a Faker locale such as ru_RU or en_US")


@lru_cache(maxsize=4)
def pools(seed: int, locale: str) -> Pools:
    from faker import Faker

    check_locale(locale)
    fake = Faker(locale)
    fake.seed_instance(seed)

    def many(make: object, n: int = POOL, unique: bool = False) -> tuple[str, ...]:
        values: list[str] = []
        seen: set[str] = set()
        for _ in range(n * 4):
            value = _clean(str(make()))  # type: ignore[operator]
            if unique and value in seen:
                continue
            seen.add(value)
            values.append(value)
            if len(values) == n:
                break
        return tuple(values)

    # Usernames are ASCII in every locale (Faker transliterates): logins and emails use them.
    return Pools(
        locale=locale,
        male_first=many(fake.first_name_male, 300, unique=True),
        male_last=many(fake.last_name_male, 800, unique=True),
        female_first=many(fake.first_name_female, 300, unique=True),
        female_last=many(fake.last_name_female, 800, unique=True),
        usernames=many(fake.user_name, POOL, unique=True),
        email_domains=many(fake.free_email_domain, 20, unique=True),
        phones=many(fake.phone_number),
        streets=many(fake.street_address, POOL, unique=True),
        cities=many(fake.city, CITIES, unique=True),
        companies=many(fake.company, 800, unique=True),
        sentences=many(lambda: fake.sentence(nb_words=10), 600),
        words=many(fake.word, 300, unique=True),
    )
