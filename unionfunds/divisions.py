"""China's federation tree from the administrative division files.

One federation per division: 中华全国总工会 at the root, then 青海省总工会,
西宁市总工会, 城中区总工会 and so on. City rows that are only statistical
groupings (市辖区 and 县 of the municipalities, 省直辖县级行政区划) get no
federation: their counties hang directly under the province.

The paths are computed here and the rows written with bulk inserts, a level at a
time, because adding 45,000 nodes one by one through treebeard takes minutes. Each
new federation gets its "federation.created" audit event, as `federation_create`
writes it, in one insert: `verify_ledger --audit` holds every federation's code,
name, level and parent to what the trail last recorded.
"""

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from unionfunds import audit
from unionfunds.models import FEDERATION_AUDITED_FIELDS, Federation, Level

NATIONAL_CODE = "CN"
NATIONAL_NAME = "中华全国总工会"
GROUPING_CITY_NAMES = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}
FIXTURES = Path(settings.BASE_DIR) / "fixtures"


@dataclass
class Division:
    code: str
    name: str
    level: str
    parent_code: str

    @property
    def federation_name(self) -> str:
        return f"{self.name}总工会"


def read_divisions(
    folder: Path = FIXTURES, townships: Path | None = None, *, township_level: str = Level.TOWNSHIP
) -> list[Division]:
    """Divisions in parent-before-child order, with grouping rows left out.

    Townships (streets.csv) get `township_level`: the national dataset loads them
    as the grassroots level, where the money is paid out."""
    divisions = [
        Division(row["code"], row["name"], Level.PROVINCE, NATIONAL_CODE) for row in _rows(folder / "provinces.csv")
    ]
    grouping = set()
    for row in _rows(folder / "cities.csv"):
        if row["name"] in GROUPING_CITY_NAMES:
            grouping.add(row["code"])
        else:
            divisions.append(Division(row["code"], row["name"], Level.CITY, row["provinceCode"]))
    for row in _rows(folder / "areas.csv"):
        parent = row["provinceCode"] if row["cityCode"] in grouping else row["cityCode"]
        divisions.append(Division(row["code"], row["name"], Level.COUNTY, parent))
    if townships is not None:
        divisions += [Division(row["code"], row["name"], township_level, row["areaCode"]) for row in _rows(townships)]
    return divisions


@transaction.atomic
def load_tree(divisions: list[Division], *, batch_size: int = 2000) -> int:
    """Create the national root and every division missing from the tree; returns
    how many federations were created. Existing federations are left alone."""
    root = Federation.objects.filter(code=NATIONAL_CODE).first()
    new_federations: list[Federation] = []
    if root is None:
        root = Federation.objects.add_root({"code": NATIONAL_CODE, "name": NATIONAL_NAME, "level": Level.NATIONAL})
        new_federations.append(root)
    known = dict(Federation.objects.values_list("code", "id"))
    children = defaultdict(list)
    for division in divisions:
        if division.code not in known:
            children[division.parent_code].append(division)
    by_level: dict[int, list[Division]] = defaultdict(list)
    depth_of = {NATIONAL_CODE: 1}
    for division in divisions:
        depth_of[division.code] = depth_of.get(division.parent_code, 1) + 1
        if division.code not in known:
            by_level[depth_of[division.code]].append(division)
    for depth in sorted(by_level):
        parents = {
            federation.code: federation
            for federation in Federation.objects.filter(
                code__in={division.parent_code for division in by_level[depth]}
            ).only("id", "code", "path", "depth", "numchild")
        }
        new = []
        for parent_code, parent in parents.items():
            for position, division in enumerate(children[parent_code], start=parent.numchild + 1):
                new.append(
                    Federation(
                        code=division.code,
                        name=division.federation_name,
                        level=division.level,
                        parent_id=parent.pk,
                        depth=parent.depth + 1,
                        path=Federation._get_path(parent.path, parent.depth + 1, position),
                        numchild=0,
                    )
                )
            Federation.objects.filter(pk=parent.pk).update(numchild=parent.numchild + len(children[parent_code]))
        new_federations += Federation.objects.bulk_create(new, batch_size=batch_size)
    audit.log_many(
        Federation,
        "federation.created",
        (
            (
                federation.pk,
                federation.pk,
                str(federation),
                audit.diff({}, audit.snapshot(federation, FEDERATION_AUDITED_FIELDS)),
            )
            for federation in new_federations
        ),
        user=None,
    )
    return len(new_federations)


def _rows(path: Path):
    with path.open(encoding="utf-8", newline="") as handle:
        yield from csv.DictReader(handle)
