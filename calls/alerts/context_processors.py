"""The saved views listed in the navigation of every page.

Lazy: the query runs only when a template shows the list (the full pages' navigation),
never for htmx fragments, and only for a logged-in user.
"""

from django.db.models import Q
from django.utils.functional import SimpleLazyObject

NAV_LIMIT = 20


def saved_views(request) -> dict:
    def load():
        from calls.alerts.models import SavedView

        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return []
        return list(
            SavedView.objects.filter(Q(shared=True) | Q(owner=user))
            .order_by("name", "id")
            .only("id", "name", "query", "shared", "owner_id")[:NAV_LIMIT]
        )

    return {"nav_saved_views": SimpleLazyObject(load)}
