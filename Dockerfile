# The dashboard's image: production dependencies only (requirements/prod.txt), no secrets
# baked in, run as an unprivileged user on a source tree it cannot write.
FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 STATE_DIR=/data STATIC_ROOT=/app/staticfiles
WORKDIR /app
COPY requirements/prod.txt requirements/prod.txt
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements/prod.txt
COPY . .
# Throw-away values: with them set, importing the settings writes no secret file, and none
# of them is in the image's environment afterwards.
RUN SECRET_KEY=build-only CALLBACK_PASSWORD=build-only STATE_DIR=/tmp/build-state \
    python manage.py collectstatic --noinput -v0 \
 && rm -rf /tmp/build-state \
 && useradd --system --home /data dashboard && mkdir -p /data && chown dashboard /data
USER dashboard
EXPOSE 8000
CMD ["gunicorn", "dashboard.asgi:application", "-k", "uvicorn.workers.UvicornWorker", "--bind", "0.0.0.0:8000", "--workers", "3", "--keep-alive", "10", "--graceful-timeout", "5", "--access-logfile", "-"]
