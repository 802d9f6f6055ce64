# creditpay's container image (docs/operations.md, "Container image").
#
#   docker build -t creditpay .                    # the production image (stage "runtime")
#   docker run --rm creditpay --help               # the entry point is the creditpay command
#   docker run --rm --entrypoint make creditpay demo   # the demo, inside the image
#   docker build --target dev -t creditpay:dev .   # sources, tests and their Debian tools
#   docker run --rm creditpay:dev make test        # the whole suite, inside the image
#
# Slim on purpose: python:3.11-slim, the Debian libraries WeasyPrint needs to render the
# key-facts PDFs (Pango, HarfBuzz, a CJK font for zh-CN), make; no compiler, no sources in
# the runtime stage (creditpay is installed from its wheel), and a non-root user.

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 fonts-wqy-microhei \
      make \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 creditpay \
 && useradd --system --uid 10001 --gid creditpay --home-dir /app --shell /usr/sbin/nologin \
      creditpay \
 && mkdir -p /app /var/lib/creditpay/audit-checkpoints \
 && chown -R creditpay:creditpay /app /var/lib/creditpay
WORKDIR /app

# Build the wheel (migrations and py.typed inside) and install it into /opt/venv.
FROM base AS build
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --upgrade pip "setuptools>=77" \
 && /opt/venv/bin/pip wheel --no-deps --no-build-isolation -w /wheels . \
 && /opt/venv/bin/pip install /wheels/creditpay-*.whl

# Development and CI: the sources, the dev extra and the Debian tools the tests use
# (PostgreSQL's server binaries for the throwaway test servers, Chromium for tests/web).
FROM base AS dev
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql chromium \
 && rm -rf /var/lib/apt/lists/*
COPY --chown=creditpay:creditpay . /app
USER creditpay
RUN make install
CMD ["make", "test"]

# Production: the installed package only.
FROM base AS runtime
COPY --from=build /opt/venv /opt/venv
COPY --chown=creditpay:creditpay Makefile pyproject.toml ./
# The Makefile's targets use /opt/venv; the stamp says it is installed (make demo runs
# the installed creditpay, never pip).
ENV PATH=/opt/venv/bin:$PATH \
    VENV=/opt/venv \
    CREDITPAY_MODE=production
RUN touch /opt/venv/.installed
USER creditpay
EXPOSE 8000
ENTRYPOINT ["creditpay"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
