"""URL converters: a path segment that cannot be a Catapult id never reaches a view."""


class CatapultIdConverter:
    # Catapult ids are a short prefix, a dash and lower-case alphanumerics ("c-3rtok...").
    regex = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
