/*
 * ui.c: the dashboard's files under /ui/ on the API listener.  Only names
 * of one path segment made of [A-Za-z0-9_.-] (no leading dot, so no "..")
 * with a known extension are served, opened relative to the directory
 * (openat, O_NOFOLLOW) and only when they are regular files; the content
 * type comes from the extension.  The files hold no data: the page asks
 * for the API token and sends it with its API calls, so /ui/ itself needs
 * none.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/http.h>

#include "scaler.h"

/* the installed files, relative to the binary: PREFIX/sbin/scaleset-scaler
   finds PREFIX/share/scaleset/ui */
#define UI_REL_DIR "/../share/scaleset/ui"
#define UI_SYS_DIR "/usr/share/scaleset/ui"
/* the source tree the binary was built in (the Makefile's SRC_UI_DIR) */
#ifndef SCALER_SRC_UI_DIR
#define SCALER_SRC_UI_DIR ""
#endif

#define UI_FILE_MAX (4 * 1024 * 1024)

static const struct {
    const char *ext;
    const char *type;
} ui_types[] = {
    { ".html", "text/html; charset=utf-8" },
    { ".js", "text/javascript; charset=utf-8" },
    { ".css", "text/css; charset=utf-8" },
    { ".svg", "image/svg+xml" },
    { ".png", "image/png" },
    { ".ico", "image/x-icon" },
    { ".json", "application/json" },
    { ".txt", "text/plain; charset=utf-8" },
};

static void ui_reply(struct evhttp_request *req, int code, const char *reason,
                     const char *msg);

const char *
ui_default_dir(void)
{
    static char dir[PATH_MAX];
    char        exe[PATH_MAX], *slash;
    ssize_t     n;
    struct stat st;

    /* dir has room for exe's directory and UI_REL_DIR */
    n = readlink("/proc/self/exe", exe, sizeof(exe) - sizeof(UI_REL_DIR));
    if (n > 0 && (size_t) n < sizeof(exe) - sizeof(UI_REL_DIR)) {
        exe[n] = '\0';
        if ((slash = strrchr(exe, '/')) != NULL) {
            memcpy(slash, UI_REL_DIR, sizeof(UI_REL_DIR));
            memcpy(dir, exe, (size_t) (slash - exe) + sizeof(UI_REL_DIR));
            if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) {
                return dir;
            }
        }
    }
    if (SCALER_SRC_UI_DIR[0] != '\0' && stat(SCALER_SRC_UI_DIR, &st) == 0
        && S_ISDIR(st.st_mode))
    {
        return SCALER_SRC_UI_DIR;
    }
    return UI_SYS_DIR;
}

/* the content type of a servable file name, NULL when it is not one */
const char *
ui_content_type(const char *name)
{
    const char *p, *dot;
    size_t      i;

    if (name[0] == '\0' || name[0] == '.' || strlen(name) > 128) {
        return NULL;
    }
    for (p = name; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'
              || *p == '.'))
        {
            return NULL;
        }
    }
    if ((dot = strrchr(name, '.')) == NULL) {
        return NULL;
    }
    for (i = 0; i < sizeof(ui_types) / sizeof(ui_types[0]); i++) {
        if (strcmp(dot, ui_types[i].ext) == 0) {
            return ui_types[i].type;
        }
    }
    return NULL;
}

static void
ui_reply(struct evhttp_request *req, int code, const char *reason,
         const char *msg)
{
    struct evbuffer *b = evbuffer_new();

    evbuffer_add_printf(b, "%s\n", msg);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; charset=utf-8");
    evhttp_send_reply(req, code, reason, b);
    evbuffer_free(b);
}

void
ui_serve(struct evhttp_request *req, const char *dir, const char *path)
{
    struct evkeyvalq    *h = evhttp_request_get_output_headers(req);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const char          *name, *type;
    struct evbuffer     *b;
    struct stat          st;
    int                  dfd, fd;
    char                 len[32];

    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        ui_reply(req, 405, "Method Not Allowed", "method not allowed");
        return;
    }
    if (strcmp(path, "/ui") == 0) {
        evhttp_add_header(h, "Location", "/ui/");
        ui_reply(req, 301, "Moved Permanently", "/ui/");
        return;
    }
    name = path + sizeof("/ui/") - 1;
    if (*name == '\0') {
        name = "index.html";
    }
    if ((type = ui_content_type(name)) == NULL) {
        ui_reply(req, 404, "Not Found", "not found");
        return;
    }
    if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
        slog_warn(NULL, NULL, "api: dashboard directory %s: %s", dir,
                  strerror(errno));
        ui_reply(req, 404, "Not Found", "dashboard not installed");
        return;
    }
    fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    close(dfd);
    if (fd == -1) {
        ui_reply(req, 404, "Not Found", "not found");
        return;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > UI_FILE_MAX)
    {
        close(fd);
        ui_reply(req, 404, "Not Found", "not found");
        return;
    }
    b = evbuffer_new();
    if (b == NULL) {
        close(fd);
        ui_reply(req, 500, "Internal Server Error", "out of memory");
        return;
    }
    if (cmd == EVHTTP_REQ_HEAD) {
        /* evhttp would send a body: the length only */
        close(fd);
        snprintf(len, sizeof(len), "%lld", (long long) st.st_size);
        evhttp_add_header(h, "Content-Length", len);
    } else if (evbuffer_add_file(b, fd, 0, st.st_size) != 0) {
        /* the file segment owns fd once made; it failed before */
        evbuffer_free(b);
        ui_reply(req, 500, "Internal Server Error", "cannot read file");
        return;
    }
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "Content-Security-Policy",
                      "default-src 'self'; img-src 'self' data:; "
                      "frame-ancestors 'none'; base-uri 'none'; "
                      "form-action 'none'");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}
