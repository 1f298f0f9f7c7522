"""Static files: whitenoise's compressed, content-hashed storage, forgiving a stale manifest."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    """Hashed names from the manifest collectstatic writes (bin/up runs it; whitenoise then
    serves them with a year's cache). Before collectstatic has run (tests, a first start),
    or for a file added since, the plain name is used and whitenoise serves it from the
    source folders, instead of the page failing."""

    manifest_strict = False

    def stored_name(self, name):
        try:
            return super().stored_name(name)
        except ValueError:  # not collected: nothing to hash it from
            return name
