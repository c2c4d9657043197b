/* SPDX-License-Identifier: Apache-2.0 */
/* The model `cpn demo` delivers: a sharded checkpoint in the safetensors
 * layout, as a Hugging Face model directory holds one. Each shard is an
 * 8-byte little-endian header length, a JSON header (dtype, shape and
 * data_offsets of each tensor, and "__metadata__") padded with spaces to a
 * multiple of 8, then the tensor bytes; model.safetensors.index.json maps
 * every tensor to its shard. The bytes are seeded pseudo-random, so they do
 * not compress and a rerun writes the same files. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"

#define CLI_MODEL_BUF (1u << 20) /* bytes written per write() */

/* splitmix64: a small seeded generator; the data only has to be
 * reproducible and incompressible, not cryptographic. */
static uint64_t cli_model_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int cli_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    ssize_t n;

    while (len > 0) {
        n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* One tensor of a shard. */
typedef struct cli_tensor {
    char name[96];
    uint64_t shape[2];
    unsigned ndim;
    uint64_t bytes;
} cli_tensor_t;

/*
 * Lay out layer @p layer's tensors in about @p budget bytes (BF16): an
 * RMSNorm weight [cols] and three MLP projections gate/up [rows, cols] and
 * down [cols, rows], the shapes of a transformer block.
 */
static void cli_model_layout(unsigned layer, uint64_t budget, cli_tensor_t t[4])
{
    static const char *const part[] = {"input_layernorm", "mlp.gate_proj",
                                       "mlp.up_proj", "mlp.down_proj"};
    uint64_t cols = 1024, rows;
    unsigned i;

    while (cols > 1 && 8 * cols > budget) {
        cols /= 2;
    }
    rows = (budget - 2 * cols) / (6 * cols);
    rows = rows == 0 ? 1 : rows;
    for (i = 0; i < 4; i++) {
        snprintf(t[i].name, sizeof(t[i].name), "model.layers.%u.%s.weight",
                 layer, part[i]);
        if (i == 0) {
            t[i].ndim = 1;
            t[i].shape[0] = cols;
        } else {
            t[i].ndim = 2;
            t[i].shape[0] = i == 3 ? cols : rows;
            t[i].shape[1] = i == 3 ? rows : cols;
        }
        t[i].bytes = 2 * t[i].shape[0] * (t[i].ndim == 2 ? t[i].shape[1] : 1);
    }
}

/*
 * Write one shard: an 8-byte little-endian header length, the JSON header
 * (dtype, shape, data_offsets per tensor, and __metadata__) padded with
 * spaces to a multiple of 8, then the tensor bytes (seeded random).
 */
static int cli_model_write_shard(const char *path, unsigned shard,
                                const cli_tensor_t t[4], char *buf)
{
    json_t *hdr = json_object(), *meta = json_object();
    uint64_t off = 0, seed = 0x5eedc0de00000000ull | shard, left, hlen;
    unsigned i;
    size_t n, k;
    char *text;
    unsigned char len8[8];
    int fd, rc = -1;

    json_object_set_new(meta, "format", json_string("pt"));
    json_object_set_new(hdr, "__metadata__", meta);
    for (i = 0; i < 4; i++) {
        json_t *ti = json_object(), *shape = json_array(), *offs = json_array();

        json_array_append_new(shape, json_integer((json_int_t)t[i].shape[0]));
        if (t[i].ndim == 2) {
            json_array_append_new(shape, json_integer((json_int_t)t[i].shape[1]));
        }
        json_array_append_new(offs, json_integer((json_int_t)off));
        json_array_append_new(offs, json_integer((json_int_t)(off + t[i].bytes)));
        json_object_set_new(ti, "dtype", json_string("BF16"));
        json_object_set_new(ti, "shape", shape);
        json_object_set_new(ti, "data_offsets", offs);
        json_object_set_new(hdr, t[i].name, ti);
        off += t[i].bytes;
    }
    text = json_dumps(hdr, JSON_COMPACT);
    json_decref(hdr);
    if (text == NULL) {
        errno = ENOMEM;
        return -1;
    }
    hlen = (strlen(text) + 7) & ~7ull; /* pad with spaces to 8 bytes */
    for (i = 0; i < 8; i++) {
        len8[i] = (unsigned char)(hlen >> (8 * i));
    }

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        free(text);
        return -1;
    }
    memset(buf, ' ', hlen);
    memcpy(buf, text, strlen(text));
    free(text);
    if (cli_write_all(fd, len8, 8) != 0 || cli_write_all(fd, buf, hlen) != 0) {
        goto out;
    }
    for (left = off; left > 0; left -= n) {
        n = left < CLI_MODEL_BUF ? (size_t)left : CLI_MODEL_BUF;
        for (k = 0; k < n; k += 8) {
            uint64_t r = cli_model_rand(&seed);
            memcpy(buf + k, &r, n - k < 8 ? n - k : 8);
        }
        if (cli_write_all(fd, buf, n) != 0) {
            goto out;
        }
    }
    rc = 0;
out:
    if (close(fd) != 0) {
        rc = -1;
    }
    return rc;
}

int cli_model_write(const char *dir, uint64_t size, unsigned shards,
                    uint64_t *bytes_p)
{
    json_t *index = json_object(), *meta = json_object(), *map = json_object();
    uint64_t total = 0, budget, files = 0;
    cli_tensor_t t[4];
    char path[PATH_MAX + 64], file[64], *buf = malloc(CLI_MODEL_BUF);
    unsigned s, i;
    int rc = -1;
    struct stat sb;

    if (buf == NULL) {
        errno = ENOMEM;
        goto out;
    }
    for (s = 0; s < shards; s++) {
        budget = size / shards;
        if (s == shards - 1) {
            budget += size % shards;
        }
        cli_model_layout(s, budget, t);
        snprintf(file, sizeof(file), "model-%05u-of-%05u.safetensors", s + 1,
                 shards);
        snprintf(path, sizeof(path), "%s/%s", dir, file);
        if (cli_model_write_shard(path, s, t, buf) != 0) {
            fprintf(stderr, "cpn demo: cannot write %s: %s\n", path,
                    strerror(errno));
            goto out;
        }
        if (stat(path, &sb) == 0) {
            files += (uint64_t)sb.st_size;
        }
        for (i = 0; i < 4; i++) {
            total += t[i].bytes;
            json_object_set_new(map, t[i].name, json_string(file));
        }
    }
    json_object_set_new(meta, "total_size", json_integer((json_int_t)total));
    json_object_set_new(index, "metadata", meta);
    json_object_set_new(index, "weight_map", map);
    meta = map = NULL;
    snprintf(path, sizeof(path), "%s/model.safetensors.index.json", dir);
    if (json_dump_file(index, path, JSON_INDENT(2)) != 0) {
        fprintf(stderr, "cpn demo: cannot write %s: %s\n", path,
                strerror(errno));
        goto out;
    }
    if (stat(path, &sb) == 0) {
        files += (uint64_t)sb.st_size;
    }
    *bytes_p = files;
    rc = 0;
out:
    json_decref(index);
    json_decref(meta);
    json_decref(map);
    free(buf);
    return rc;
}
