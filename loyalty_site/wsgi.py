import os

from django.core.wsgi import get_wsgi_application

from loyalty_site.startup import startup_objects_freeze

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty_site.settings")
application = get_wsgi_application()
startup_objects_freeze(urls=True)  # the project is loaded: keep it out of the collector's way
