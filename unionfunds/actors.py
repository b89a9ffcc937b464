"""Who acts. A service is called `by` a signed-in user (`Actor`); its role
checks refuse anyone else. A permission question may be asked about anyone
who reaches a page, signed in or not (`Visitor`)."""

from typing import TypeAlias

from django.contrib.auth.models import AnonymousUser, User

Actor: TypeAlias = User
Visitor: TypeAlias = User | AnonymousUser
