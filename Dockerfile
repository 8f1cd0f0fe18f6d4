# One image for `vigil operator` and `vigil ingest`.
# Build stage: a wheel of Vigil and its dependencies (compilers stay here).
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator/ operator/
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Final stage: the wheels installed into a venv, no build tools, a non-root user.
FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin vigil
COPY --from=build /wheels /wheels
RUN python -m venv /opt/vigil \
    && /opt/vigil/bin/pip install --no-cache-dir --no-index --find-links=/wheels vigil \
    && rm -rf /wheels
ENV PATH=/opt/vigil/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["vigil"]
CMD ["operator", "--all-namespaces"]
