#include "core/clock.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

int64_t ch_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ch_mono_ms(void)
{
    return (int64_t)(ch_mono_ns() / 1000000);
}

uint64_t ch_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct timespec ch_mono_timespec_after(int64_t ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += (time_t)(ms / 1000);
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

int ch_cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(cv, &attr);
    pthread_condattr_destroy(&attr);
    return rc;
}

/* Two decimal digits of v (0..99) at p. */
static char *ch__put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

/* The proleptic Gregorian date of day z since 1970-01-01 (z may be negative): H. Hinnant's
 * civil_from_days, as gmtime_r computes it, without its locale and time-zone work. */
static void ch__civil(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                       /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                     /* [0, 11], March first */
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

size_t ch_format_rfc3339(int64_t unix_ms, char *buf)
{
    /* floor division: a time before 1970 still has its milliseconds counted forwards */
    int64_t secs = unix_ms / 1000;
    int ms = (int)(unix_ms % 1000);
    if (ms < 0) {
        ms += 1000;
        secs -= 1;
    }
    int64_t days = secs / 86400, sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days -= 1;
    }
    int64_t year;
    int month, day;
    ch__civil(days, &year, &month, &day);
    int hour = (int)(sod / 3600), min = (int)(sod / 60 % 60), sec = (int)(sod % 60);
    if (year < 0 || year > 9999) /* outside four digits: printf's %04d rules (sign, width), rare */
        return (size_t)snprintf(buf, CH_RFC3339_LEN, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d.%03dZ", year, month,
                                day, hour, min, sec, ms);
    char *p = buf;
    p = ch__put2(p, (int)(year / 100));
    p = ch__put2(p, (int)(year % 100));
    *p++ = '-';
    p = ch__put2(p, month);
    *p++ = '-';
    p = ch__put2(p, day);
    *p++ = 'T';
    p = ch__put2(p, hour);
    *p++ = ':';
    p = ch__put2(p, min);
    *p++ = ':';
    p = ch__put2(p, sec);
    *p++ = '.';
    *p++ = (char)('0' + ms / 100);
    p = ch__put2(p, ms % 100);
    *p++ = 'Z';
    *p = '\0';
    return (size_t)(p - buf);
}
