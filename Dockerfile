FROM python:3.11-slim
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir /app
ENV OTABOX_DATA_DIR=/data \
    OTABOX_STATIC_DIR=/app/static
VOLUME ["/data"]
EXPOSE 8080
CMD ["otabox", "serve", "--host", "0.0.0.0", "--port", "8080"]
