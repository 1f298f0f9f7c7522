import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
application = get_asgi_application()

# What is loaded by now (Django, the apps, their modules) lives as long as the process:
# moved out of the garbage collector's reach, it is no longer walked by every full
# collection, which otherwise took tens of milliseconds out of a random request.
gc.freeze()
