#include "store/clickhouse.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"

struct ch_clickhouse {
    CURL *curl;
    char base[1024];   /* scheme://host:port */
    char database[128];
    const _Atomic int *abort_flag; /* borrowed; NULL = never */
};

void ch_clickhouse_global_init(void)
{
    static int done;
    if (!done)
        curl_global_init(CURL_GLOBAL_DEFAULT);
    done = 1;
}

/* Splits url into base (scheme://host:port) and database; -1 when it is not one. */
static int ch__split(const char *url, char *base, size_t baselen, char *db, size_t dblen)
{
    size_t skip = strncmp(url, "http://", 7) == 0 ? 7 : strncmp(url, "https://", 8) == 0 ? 8 : 0;
    if (!skip || !url[skip] || url[skip] == '/' || strchr(url, '?') || strchr(url, '@'))
        return -1;
    const char *slash = strchr(url + skip, '/');
    size_t blen = slash ? (size_t)(slash - url) : strlen(url);
    const char *name = slash ? slash + 1 : "";
    if (blen >= baselen || strlen(name) >= dblen || strchr(name, '/'))
        return -1;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_'))
            return -1;
    memcpy(base, url, blen);
    base[blen] = '\0';
    snprintf(db, dblen, "%s", *name ? name : "default");
    return 0;
}

int ch_clickhouse_parse_url(const char *url, char *err, size_t errlen)
{
    char base[1024], db[128];
    if (ch__split(url, base, sizeof(base), db, sizeof(db)) != 0) {
        snprintf(err, errlen, "expected http://host:port[/database] (database: letters, digits, _)");
        return -1;
    }
    return 0;
}

ch_clickhouse_t *ch_clickhouse_create(const char *url)
{
    ch_clickhouse_t *ch = ch_calloc(1, sizeof(*ch));
    if (!ch || ch__split(url, ch->base, sizeof(ch->base), ch->database, sizeof(ch->database)) != 0 ||
        !(ch->curl = curl_easy_init())) {
        free(ch);
        return NULL;
    }
    return ch;
}

void ch_clickhouse_destroy(ch_clickhouse_t *ch)
{
    if (!ch)
        return;
    curl_easy_cleanup(ch->curl);
    free(ch);
}

void ch_clickhouse_set_abort(ch_clickhouse_t *ch, const _Atomic int *flag)
{
    ch->abort_flag = flag;
}

/* libcurl's progress callback: non-zero aborts the transfer. */
static int ch__on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    const _Atomic int *flag = arg;
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return flag && *flag;
}

const char *ch_clickhouse_database(const ch_clickhouse_t *ch)
{
    return ch->database;
}

static size_t ch__on_data(char *data, size_t size, size_t nmemb, void *arg)
{
    ch_buf_append(arg, data, size * nmemb);
    return size * nmemb;
}

ch_err_t ch_clickhouse_exec(ch_clickhouse_t *ch, const char *insert_query, const char *body, size_t len,
                            int use_database, char **out)
{
    ch_buf_t answer = CH_BUF_INIT;
    char *url = NULL, *query = NULL;
    if (insert_query)
        query = curl_easy_escape(ch->curl, insert_query, 0);
    size_t cap = strlen(ch->base) + strlen(ch->database) + (query ? strlen(query) : 0) + 32;
    url = ch_malloc(cap);
    snprintf(url, cap, "%s/?%s%s%s%s", ch->base, use_database ? "database=" : "", use_database ? ch->database : "",
             query && use_database ? "&" : "", query ? "query=" : "");
    if (query)
        snprintf(url + strlen(url), cap - strlen(url), "%s", query);
    CURL *c = ch->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ch__on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)CH_CLICKHOUSE_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (ch->abort_flag) {
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, ch__on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)ch->abort_flag);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    }
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: text/plain; charset=utf-8");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_free(query);
    free(url);
    ch_err_t err = CH_OK;
    if (rc != CURLE_OK || status >= 500 || status == 0) {
        ch_log_warn("clickhouse: %s: %s", rc != CURLE_OK ? curl_easy_strerror(rc) : "server error",
                    answer.len ? answer.data : "");
        err = CH_EUNAVAILABLE;
    } else if (status != 200) {
        ch_log_error("clickhouse: HTTP %ld: %.*s", status, (int)(answer.len > 400 ? 400 : answer.len),
                     answer.data ? answer.data : "");
        err = CH_EINTERNAL;
    }
    if (err == CH_OK && out) {
        *out = answer.data ? answer.data : ch_strdup("");
        return CH_OK;
    }
    ch_buf_clear(&answer);
    return err;
}

ch_err_t ch_clickhouse_ping(const char *url, long timeout_ms)
{
    char base[1024], db[128], ping[1100];
    if (ch__split(url, base, sizeof(base), db, sizeof(db)) != 0)
        return CH_EINVAL;
    snprintf(ping, sizeof(ping), "%s/ping", base);
    CURL *c = curl_easy_init();
    if (!c)
        return CH_EUNAVAILABLE;
    ch_buf_t answer = CH_BUF_INIT;
    curl_easy_setopt(c, CURLOPT_URL, ping);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ch__on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    ch_buf_clear(&answer);
    return rc == CURLE_OK && status == 200 ? CH_OK : CH_EUNAVAILABLE;
}
