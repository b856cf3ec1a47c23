# gengap-dash: the dashboard in a container, served on port 8501.
#   docker build -t gengap-dash .
#   docker run --rm -p 127.0.0.1:8501:8501 gengap-dash             # the bundled sample project
#   docker run --rm -p 127.0.0.1:8501:8501 -v /path/to/project:/project:ro \
#     -e GENGAP_PROJECT=/project/project.yaml gengap-dash          # your project, mounted read-only
#   docker run --rm -p 127.0.0.1:8501:8501 -v /path/to/projects:/projects:ro \
#     -e GENGAP_PROJECTS_DIR=/projects gengap-dash                 # every project.yaml under it
# Publish on 127.0.0.1 unless an authenticating proxy stands in front: the dashboard has no login
# (README: "Sharing the dashboard safely"). The server runs as the unprivileged user `gengap`; the
# app and the sample are owned by root and read-only to it.
# torch is pinned to 2.13.0 in requirements.txt; where the index offers only CUDA builds of it,
# pass an index with CPU wheels:  --build-arg PIP_EXTRA_INDEX_URL=<your CPU wheel index>
FROM python:3.11-slim

ARG PIP_EXTRA_INDEX_URL=""
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_EXTRA_INDEX_URL=${PIP_EXTRA_INDEX_URL}

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin gengap
WORKDIR /app

COPY requirements.txt pyproject.toml README.md ./
COPY gengap_dash ./gengap_dash
RUN pip install -r requirements.txt

COPY app.py ./
COPY pages ./pages
COPY .streamlit ./.streamlit
COPY sample_data ./sample_data

USER gengap
ENV GENGAP_CACHE_DIR=/home/gengap/.cache/gengap \
    STREAMLIT_SERVER_HEADLESS=true \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    STREAMLIT_CLIENT_SHOW_ERROR_DETAILS=none \
    STREAMLIT_CLIENT_TOOLBAR_MODE=viewer \
    STREAMLIT_SERVER_ENABLE_CORS=true \
    STREAMLIT_SERVER_ENABLE_XSRF_PROTECTION=true
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read() != b'ok')"
# Inside the container the server must listen on all of the container's interfaces so that the
# published port reaches it; outside Docker it binds to 127.0.0.1 (see .streamlit/config.toml).
# Browsers may reach it as localhost / 127.0.0.1 (server.allowedHosts); behind a proxy with a host
# name, add it: -e STREAMLIT_SERVER_ALLOWED_HOSTS=dash.example.org
CMD ["streamlit", "run", "app.py", "--server.port=8501", "--server.address=0.0.0.0", \
     "--server.headless=true", "--browser.gatherUsageStats=false"]
