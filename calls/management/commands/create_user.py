import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from calls.roles import ROLES, assign_role


class Command(BaseCommand):
    help = "Create or update a dashboard user with a role (viewer, operator or admin)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", choices=ROLES, required=True)
        parser.add_argument(
            "--password",
            help="Password to set. Omit to generate one (printed once). Prefer the "
            "DASHBOARD_PASSWORD environment variable over this flag in shared shells.",
        )
        parser.add_argument("--email", default="")

    def handle(self, *args, username, role, password, email, **options):
        import os

        password = password or os.environ.get("DASHBOARD_PASSWORD") or None
        generated = password is None
        if generated:
            password = secrets.token_urlsafe(12)
        if len(password) < 8:
            raise CommandError("The password must be at least 8 characters long")
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"email": email}
        )
        user.set_password(password)
        user.save()
        assign_role(user, role)
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} {role} '{username}'")
        if generated:
            self.stdout.write(f"Password: {password}")
