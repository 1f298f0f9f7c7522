"""Roles are Django groups: viewer browses, operator acts, admin runs the admin site."""

VIEWER = "viewer"
OPERATOR = "operator"
ADMIN = "admin"
ROLES = (VIEWER, OPERATOR, ADMIN)

# Permission codenames (app "calls") each role's group holds.
GROUP_PERMISSIONS = {
    VIEWER: ["view_call", "view_callevent", "view_syncrun"],
    OPERATOR: ["view_call", "view_callevent", "view_syncrun", "act_on_call"],
    ADMIN: ["view_call", "view_callevent", "view_syncrun", "act_on_call"],
}


def ensure_groups() -> None:
    """Create the role groups with their permissions (idempotent)."""
    from django.contrib.auth.models import Group, Permission

    for role, codenames in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        perms = Permission.objects.filter(content_type__app_label="calls", codename__in=codenames)
        group.permissions.set(perms)


def assign_role(user, role: str) -> None:
    from django.contrib.auth.models import Group

    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    ensure_groups()
    user.groups.set([Group.objects.get(name=role)])
    # Admins manage users in the Django admin; the others never see it.
    user.is_staff = user.is_superuser = role == ADMIN
    user.save()
