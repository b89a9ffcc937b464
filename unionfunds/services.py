"""Changes to the federation tree and to who may do what in it."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from unionfunds import audit, signals, text
from unionfunds.errors import refuse
from unionfunds.models import FEDERATION_AUDITED_FIELDS, Federation, Level, Membership, Role
from unionfunds.permissions import require_role

MOVE_INTO_ITSELF = _("A federation cannot be moved under itself or one of its own members.")
CODE_TAKEN = _("Another federation already has the code %(code)s.")
NAME_REQUIRED = _("Enter the name.")
INVALID_LEVEL = _("Unknown level: %(value)s")
LEVEL_MISFIT = _("A federation of level %(level)s cannot sit under one of level %(parent)s.")
ROOT_LEVEL = _("Only the national federation stands at the top of the tree.")
NAME_LIMIT = Federation._meta.get_field("name").max_length or 100

# The levels of the tree, top down. A federation sits strictly below its
# parent (a county under a city, or straight under a province as the counties
# of a municipality do); industry unions (产业工会) stand beside the territorial
# levels and have industry unions or grassroots unions below them; nothing sits
# below a grassroots union.
LEVEL_RANKS = {
    Level.NATIONAL: 0,
    Level.PROVINCE: 1,
    Level.CITY: 2,
    Level.COUNTY: 3,
    Level.TOWNSHIP: 4,
    Level.GRASSROOTS: 5,
}


def level_fits(level: str, parent_level: str | None) -> bool:
    """Whether a federation of `level` may sit under one of `parent_level` (None: the root)."""
    if parent_level is None or level == Level.NATIONAL:
        return parent_level is None and level == Level.NATIONAL
    if parent_level == Level.GRASSROOTS:
        return False
    if level == Level.INDUSTRY:
        return parent_level != Level.TOWNSHIP
    if parent_level == Level.INDUSTRY:
        return level == Level.GRASSROOTS
    return LEVEL_RANKS[Level(level)] > LEVEL_RANKS[Level(parent_level)]


def _require_level_fits(level: str, parent: Federation | None) -> None:
    if level_fits(level, parent.level if parent else None):
        return
    if parent is None or level == Level.NATIONAL:
        raise refuse(ROOT_LEVEL, "level_mismatch", field="level")
    raise refuse(
        LEVEL_MISFIT, "level_mismatch", field="level", level=Level(level).label, parent=Level(parent.level).label
    )


@transaction.atomic
def federation_create(*, code: str, name: str, level: str, parent: Federation | None, by=None) -> Federation:
    """Add a federation. `by=None` is reserved for set-up commands."""
    if by is not None:
        if parent is None:
            raise refuse(_("Only set-up can add a root federation."), "root_federation", field="parent")
        require_role(by, Role.ADMIN, parent)
    if level not in Level.values:
        raise refuse(INVALID_LEVEL, "invalid_choice", field="level", value=level)
    _require_level_fits(level, parent)
    name = (name or "").strip()
    if not name:
        raise refuse(NAME_REQUIRED, "required", field="name")
    name = text.clean_line(name, "name", limit=NAME_LIMIT)
    if Federation.objects.filter(code=code).exists():
        raise refuse(CODE_TAKEN, "code_taken", field="code", code=code)
    fields = {"code": code, "name": name, "level": level}
    if parent is None:
        federation = Federation.objects.add_root(fields)
    else:
        federation = Federation.objects.add_child(parent, {**fields, "parent": parent})
    audit.log(
        federation,
        "federation.created",
        user=by,
        federation=federation,
        changes=audit.diff({}, audit.snapshot(federation, FEDERATION_AUDITED_FIELDS)),
    )
    return federation


@transaction.atomic
def federation_move(*, federation: Federation, new_parent: Federation, by=None) -> Federation:
    """Move a federation with its whole subtree under another parent.

    Funds and entries stay attached to their federations; as every figure is
    computed from the paths, each ancestor's view follows the move at once.
    """
    federation = Federation.objects.select_for_update().get(pk=federation.pk)
    new_parent = Federation.objects.get(pk=new_parent.pk)
    old_parent = federation.parent
    if by is not None:
        require_role(by, Role.ADMIN, federation)
        require_role(by, Role.ADMIN, new_parent)
    if new_parent.path.startswith(federation.path):
        raise refuse(MOVE_INTO_ITSELF, "invalid_move", field="parent")
    try:
        _require_level_fits(federation.level, new_parent)
    except ValidationError as error:
        raise ValidationError({"parent": error.error_dict["level"]}) from None
    if old_parent is not None and old_parent.pk == new_parent.pk:
        return federation
    old_ancestors = set(_ancestors(federation))
    Federation.objects.move(federation, new_parent, pos="last-child")
    Federation.objects.filter(pk=federation.pk).update(parent=new_parent)
    federation.refresh_from_db()
    # Amounts are summed over paths when read, but figures kept per subtree
    # (the people counted in each) are recounted for the ancestors that changed.
    signals.federation_moved.send(Federation, federations=old_ancestors ^ set(_ancestors(federation)))
    audit.log(
        federation,
        "federation.moved",
        user=by,
        federation=federation,
        changes={"parent": {"before": old_parent.pk if old_parent else None, "after": new_parent.pk}},
    )
    return federation


@transaction.atomic
def membership_grant(*, username: str, federation: Federation, role: str, password: str | None = None, by=None):
    """Give a user (created if needed) a role at a federation."""
    if role not in Role.values:
        raise refuse(_("Unknown role: %(value)s"), "invalid_choice", field="role", value=role)
    if by is not None:
        require_role(by, Role.ADMIN, federation)
    user, created = get_user_model().objects.get_or_create(username=username)
    if password is not None:
        user.set_password(password)
        user.save(update_fields=["password"])
    elif created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    membership, _created = Membership.objects.get_or_create(user=user, federation=federation, role=role)
    if _created:
        audit.log(
            membership,
            "membership.granted",
            user=by,
            federation=federation,
            changes={"user": {"before": None, "after": username}, "role": {"before": None, "after": role}},
        )
    return membership


def _ancestors(federation: Federation) -> list[Federation]:
    """The federations strictly above `federation`, from its current path."""
    steps = [federation.path[:end] for end in range(Federation.steplen, len(federation.path), Federation.steplen)]
    return list(Federation.objects.filter(path__in=steps))


@transaction.atomic
def federation_rename(*, federation: Federation, name: str, by) -> Federation:
    """Give a federation a new name; its code, level and place stay."""
    require_role(by, Role.ADMIN, federation)
    federation = Federation.objects.select_for_update().get(pk=federation.pk)
    name = (name or "").strip()
    if not name:
        raise refuse(NAME_REQUIRED, "required", field="name")
    name = text.clean_line(name, "name", limit=NAME_LIMIT)
    before = audit.snapshot(federation, ("name",))
    federation.name = name
    federation.full_clean(exclude=["path", "depth", "numchild", "parent"])
    federation.save(update_fields=["name"])
    audit.log(
        federation,
        "federation.renamed",
        user=by,
        federation=federation,
        changes=audit.diff(before, audit.snapshot(federation, ("name",))),
    )
    return federation
