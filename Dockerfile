FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 STATE_DIR=/data
WORKDIR /app
COPY requirements/lock.txt requirements/lock.txt
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements/lock.txt
COPY . .
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput -v0 \
 && useradd --system --home /data dashboard && mkdir -p /data && chown dashboard /data
USER dashboard
EXPOSE 8000
CMD ["gunicorn", "dashboard.asgi:application", "-k", "uvicorn.workers.UvicornWorker", "--bind", "0.0.0.0:8000", "--workers", "3", "--keep-alive", "10", "--graceful-timeout", "5", "--access-logfile", "-"]
