"""Synthetic beneficiaries for the national dataset: names drawn from common
surnames and given names, checksum-valid ID numbers with the area code of the
paying township's county (`beneficiaries.idnumber.build`), never repeating
within a county however many top-ups add people, and the categories a share of
them belong to."""

import datetime
import random
from collections import defaultdict
from collections.abc import Iterator
from typing import Protocol

from django.db import connection

from allocations.dataset.tables import CHUNK_ROWS
from beneficiaries import idnumber
from beneficiaries.models import Beneficiary, Category, CategoryCode
from unionfunds.models import Level

CATEGORY_WEIGHTS = {
    CategoryCode.FRONTLINE_MEDICAL: 25,
    CategoryCode.MIGRANT_WORKER: 25,
    CategoryCode.REGISTERED_HARDSHIP: 20,
    CategoryCode.HARD_INDUSTRY: 12,
    CategoryCode.WORK_INJURY: 6,
    CategoryCode.MODEL_WORKER: 4,
    CategoryCode.OUTSTANDING_MODEL: 3,
    CategoryCode.FAMILY_OF_FALLEN: 2,
    CategoryCode.SECONDED_CADRE: 3,
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力国庆春梅海林峰鹏志宏"

# ID numbers: per county, the k-th synthetic person gets birth day and sequence
# from k * _ID_STRIDE mod (_ID_DAYS * 1000), a bijection, so numbers never repeat.
_ID_BIRTH_BASE = datetime.date(1960, 1, 1)
_ID_DAYS = 16_000  # up to 2003-10
_ID_SLOTS = _ID_DAYS * 1000
_ID_STRIDE = 7919  # prime, coprime with _ID_SLOTS = 2**10 * 5**6


class Place(Protocol):
    """A federation as the builder holds it (`builder.Node`)."""

    id: int
    code: str
    level: str
    parent_id: int | None


def numbered_so_far() -> defaultdict[str, int]:
    """Synthetic people already numbered per area code (a top-up continues after them)."""
    table = connection.ops.quote_name(Beneficiary._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT substr(id_number, 1, 6), count(*) FROM {table} GROUP BY 1")
        return defaultdict(int, cursor.fetchall())


def area_code(node: Place, nodes: dict[int, Place]) -> str:
    """The area code of a payer's county (the first six digits of its people's ID numbers)."""
    current: Place | None = node
    while current is not None:
        if current.level == Level.COUNTY and len(current.code) == 6 and current.code.isdigit():
            return current.code
        if current.level == Level.PROVINCE and current.code.isdigit():
            return current.code[:2] + "0000"
        current = nodes.get(current.parent_id) if current.parent_id is not None else None
    return node.code[:6] if node.code[:6].isdigit() and len(node.code) >= 6 else "110000"


def beneficiary_rows(
    rng: random.Random,
    *,
    first: int,
    home: list[int],
    payers: list[Place],
    nodes: dict[int, Place],
    counters: defaultdict[str, int],
    created: str,
    said: list[tuple[str, str]],
) -> Iterator[str]:
    """COPY lines for one person per entry of `home` (the index of the payer who
    pays them), with ids from `first`; `counters` advances as people are numbered,
    and `said` receives each person's (name, ID number), as their payments say them."""
    rnd = rng.random
    area = [area_code(node, nodes) for node in payers]
    births = [_ID_BIRTH_BASE + datetime.timedelta(days=day) for day in range(_ID_DAYS)]
    birth_text = [f"{day:%Y-%m-%d}" for day in births]
    surnames, given = SURNAMES, GIVEN
    build = idnumber.build
    rows = []
    for offset, payer in enumerate(home):
        code = area[payer]
        k = counters[code]
        counters[code] = k + 1
        slot = (k * _ID_STRIDE + int(code) * 104_729) % _ID_SLOTS
        day, sequence = slot % _ID_DAYS, slot // _ID_DAYS
        name = surnames[int(rnd() * len(surnames))] + given[int(rnd() * len(given))]
        if rnd() < 0.6:
            name += given[int(rnd() * len(given))]
        number = build(code, births[day], sequence)
        said.append((name, number))
        rows.append(
            f"{first + offset}\t{name}\t{number}\t"
            f"{'male' if sequence % 2 else 'female'}\t{birth_text[day]}\t\t\t{payers[payer].id}\t{created}\n"
        )
        if len(rows) >= CHUNK_ROWS:
            yield "".join(rows)
            rows.clear()
    if rows:
        yield "".join(rows)


def category_rows(rng: random.Random, *, first: int, persons: int) -> Iterator[str]:
    """COPY lines tagging about four in ten of the people from `first` with one
    category (a few with two)."""
    # Queried now, before the COPY starts: no other statement may run during it.
    ids = dict(Category.objects.values_list("code", "pk"))
    codes = [code for code in CATEGORY_WEIGHTS if code in ids]
    return _tags(rng, first, persons, ids, codes) if codes else iter(())


def _tags(rng: random.Random, first: int, persons: int, ids: dict[str, int], codes: list[str]) -> Iterator[str]:
    weights = [CATEGORY_WEIGHTS[code] for code in codes]
    rows: list[str] = []
    for offset in range(persons):
        draw = rng.random()
        if draw < 0.4:
            picked = set(rng.choices(codes, weights=weights, k=2 if draw < 0.05 else 1))
            rows.extend(f"{first + offset}\t{ids[code]}\n" for code in picked)
        if len(rows) >= CHUNK_ROWS:
            yield "".join(rows)
            rows.clear()
    if rows:
        yield "".join(rows)
