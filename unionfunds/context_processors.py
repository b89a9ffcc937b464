from unionfunds.models import Role
from unionfunds.permissions import grants, sees_everything


def roles(request) -> dict:
    """The roles the user holds somewhere, so that pages only offer what they may do."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"roles": set()}
    if sees_everything(user):
        return {"roles": set(Role.values)}
    return {"roles": {grant.role for grant in grants(user)}}
