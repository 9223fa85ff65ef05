/*
 * The floor under an import into SQLite: how fast SQLite itself writes call
 * rows into linewise's own `calls` table (the SQLite migrations, every index,
 * the foreign key to flows), with nothing of linewise around it - no parsing,
 * no rollups, no sqlx. One prepared single-row INSERT ... ON CONFLICT DO
 * NOTHING, bound and stepped per row, 20 000 rows a transaction, each batch
 * sorted by key as the import writes it, the same pragmas as the server (WAL,
 * synchronous NORMAL, 64 MiB cache, mmap, checkpoint every 1 000 pages), the
 * same SQLite (the amalgamation libsqlite3-sys bundles). The calls are those
 * of the ingest benchmark's CSV: 30 lines, 500 000 callers, 90 days.
 *
 *   insert N VARIANT DB MIGRATION.sql...
 *
 * VARIANT is a comma list: `base`, `noraw` (raw stored as '{}'), `noidx`
 * (without the two (phone_number, started_at)/(started_at) indexes),
 * `nolive` (without the two partial indexes of calls in progress), `onelive`
 * (without the all-lines one, `calls_live_idx`), `nofk`
 * (foreign keys off), `page16k` / `page8k` (a new file with larger pages).
 * Prints one markdown table row. Run by bench/sqlite-floor.sh.
 */
#include "sqlite3.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double wall(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct {
    char id[24];
    long line, caller, t;
    int flow;
} Row;

static int by_key(const void *a, const void *b) {
    return strcmp(((const Row *)a)->id, ((const Row *)b)->id);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = malloc(n + 1);
    if (fread(s, 1, n, f) != (size_t)n) {
        perror(path);
        exit(1);
    }
    s[n] = 0;
    fclose(f);
    return s;
}

static void run(sqlite3 *db, const char *sql) {
    char *err = 0;
    if (sqlite3_exec(db, sql, 0, 0, &err) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", sql, err);
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: insert N VARIANT DB MIGRATION.sql...\n");
        return 2;
    }
    long n = atol(argv[1]);
    const char *variant = argv[2];
    const char *path = argv[3];
    const long batch = 20000;
    char q[1024];
    for (const char *suffix = ""; suffix; suffix = *suffix ? (strcmp(suffix, "-wal") ? 0 : "-shm") : "-wal") {
        snprintf(q, sizeof q, "%s%s", path, suffix);
        remove(q);
    }
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        fprintf(stderr, "open %s\n", path);
        return 1;
    }
    if (strstr(variant, "page16k")) run(db, "PRAGMA page_size = 16384");
    if (strstr(variant, "page8k")) run(db, "PRAGMA page_size = 8192");
    run(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; "
            "PRAGMA cache_size = -65536; PRAGMA mmap_size = 1099511627776; PRAGMA wal_autocheckpoint = 1000");
    for (int i = 4; i < argc; i++) {
        char *sql = slurp(argv[i]);
        run(db, sql);
        free(sql);
    }
    if (strstr(variant, "noidx")) run(db, "DROP INDEX calls_phone_number_started_at_idx; DROP INDEX calls_started_at_idx");
    if (strstr(variant, "nolive")) run(db, "DROP INDEX calls_live_idx; DROP INDEX calls_live_line_idx");
    if (strstr(variant, "onelive")) run(db, "DROP INDEX calls_live_idx");
    if (strstr(variant, "nofk")) run(db, "PRAGMA foreign_keys = OFF");
    for (int i = 0; i < 12; i++) {
        snprintf(q, sizeof q, "INSERT INTO flows (id, name) VALUES ('%d', 'Flow %d')", 200 + i, 200 + i);
        run(db, q);
    }
    /* The ingest benchmark's generator (bench/ingest.rs, make_csv). */
    Row *rows = malloc(sizeof(Row) * n);
    unsigned long long x = 0x9e3779b97f4a7c15ULL;
    for (long i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        snprintf(rows[i].id, sizeof rows[i].id, "b-%ld", i);
        rows[i].line = 9876543000L + (long)(x % 30);
        rows[i].caller = 9812000000L + (long)((x >> 8) % 500000);
        rows[i].t = 1767225600L + i * 90L * 86400L / n;
        rows[i].flow = 200 + (int)((x >> 44) % 12);
    }
    for (long b = 0; b < n; b += batch) qsort(rows + b, n - b < batch ? n - b : batch, sizeof(Row), by_key);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO calls (provider, provider_call_id, phone_number, other_party, direction, status, "
                           "started_at, ended_at, duration_seconds, flow_id, recording_url, raw, created_at, updated_at) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                           "ON CONFLICT (provider, provider_call_id) DO NOTHING",
                           -1, &st, 0) != SQLITE_OK) {
        fprintf(stderr, "prepare: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    int noraw = strstr(variant, "noraw") != 0;
    char line[20], caller[20], flow[8], raw[512];
    double w0 = wall(), c0 = cpu();
    for (long b = 0; b < n; b += batch) {
        run(db, "BEGIN IMMEDIATE");
        for (long i = b; i < b + batch && i < n; i++) {
            const Row *r = rows + i;
            snprintf(line, sizeof line, "+91%ld", r->line);
            snprintf(caller, sizeof caller, "+91%ld", r->caller);
            snprintf(flow, sizeof flow, "%d", r->flow);
            if (noraw)
                strcpy(raw, "{}");
            else
                snprintf(raw, sizeof raw,
                         "{\"providerCallId\":\"%s\",\"phoneNumber\":\"%s\",\"otherParty\":\"%s\",\"direction\":"
                         "\"inbound\",\"status\":\"completed\",\"startedAt\":\"2026-01-01T00:00:00Z\",\"endedAt\":"
                         "\"2026-01-01T00:05:00Z\",\"durationSeconds\":\"120\",\"flowId\":\"%s\"}",
                         r->id, line, caller, flow);
            sqlite3_bind_text(st, 1, "csv", -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, r->id, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, line, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, caller, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 5, "inbound", -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 6, "completed", -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 7, r->t);
            sqlite3_bind_int64(st, 8, r->t + 100);
            sqlite3_bind_int64(st, 9, 95);
            sqlite3_bind_text(st, 10, flow, -1, SQLITE_STATIC);
            sqlite3_bind_null(st, 11);
            sqlite3_bind_text(st, 12, raw, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 13, 1);
            sqlite3_bind_int64(st, 14, 1);
            if (sqlite3_step(st) != SQLITE_DONE) {
                fprintf(stderr, "insert: %s\n", sqlite3_errmsg(db));
                return 1;
            }
            sqlite3_reset(st);
        }
        run(db, "COMMIT");
    }
    double w = wall() - w0, c = cpu() - c0;
    printf("| %s | %ld | %.2f | %.2f | %.0f |\n", variant, n, c / n * 1e6, w / n * 1e6, n / w);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return 0;
}
