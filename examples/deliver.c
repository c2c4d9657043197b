/* SPDX-License-Identifier: Apache-2.0 */
/* Deliver a job to another site, in about sixty lines: the C API of cpn read
 * top to bottom. Start a receiving site first, e.g.
 *
 *     cpn serve --listen 127.0.0.1:7200 --land /tmp/landed
 *
 * then run
 *
 *     example-deliver 127.0.0.1:7200 model.safetensors
 *
 * The job lands as /tmp/landed/example-job/{model.safetensors,config.json},
 * visible only once every byte of it was verified. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpn/cpn.h>

int main(int argc, char **argv)
{
    static const char config[] = "{\"hidden_size\": 4096, \"layers\": 32}";
    cpn_site_params_t params;
    const cpn_receipt_t *receipt;
    cpn_site_t *site;
    cpn_peer_t *peer;
    cpn_task_t *task;
    cpn_status_t st;
    char *json;

    if (argc < 3) {
        fprintf(stderr, "usage: %s HOST:PORT FILE\n", argv[0]);
        return 2;
    }

    /* 1. Open our own site. Defaults come from CPN_SITE_* variables; the
     *    transport is UCX, which picks shm, cma, tcp or RDMA by itself. */
    cpn_site_params_init(&params);
    params.name = "example-sender";
    st = cpn_site_open(&params, &site);
    if (st != CPN_OK) {
        fprintf(stderr, "cannot open a site: %s\n", cpn_status_str(st));
        return 1;
    }

    /* 2. Connect to the receiving site: HELLO checks versions and learns
     *    the receiver's limits before any task is offered. */
    st = cpn_site_connect(site, argv[1], -1, &peer);
    if (st != CPN_OK) {
        fprintf(stderr, "cannot reach %s: %s\n", argv[1], cpn_status_str(st));
        cpn_site_close(site);
        return 3;
    }

    /* 3. Describe the task: a job name, a spec, objects from files and from
     *    memory. Names are checked here and again by the receiver. */
    cpn_task_create(site, "example-job", &task);
    cpn_task_set_spec(task, "{\"kind\": \"inference\"}", 21);
    if (cpn_task_add_file(task, "model.safetensors", argv[2]) != CPN_OK ||
        cpn_task_add_mem(task, "config.json", config, strlen(config),
                         NULL) != CPN_OK) {
        fprintf(stderr, "cannot add the objects (see the log line above)\n");
        return 4;
    }

    /* 4. Deliver and wait. Delivery is asynchronous; cpn_task_wait() drives
     *    progress until the receipt arrives (or the timeout passes, which
     *    does not cancel the task: cpn_task_cancel() does). */
    cpn_task_deliver(task, peer, NULL);
    st = cpn_task_wait(task, -1);
    if (st != CPN_OK) {
        fprintf(stderr, "delivery failed: %s\n", cpn_task_error(task));
        return 1;
    }

    /* 5. The receipt: bytes, time, goodput, lanes, and a digest per object,
     *    here as JSON. */
    receipt = cpn_task_receipt(task);
    cpn_receipt_to_json(receipt, 1, &json);
    printf("%s\n", json);
    free(json);

    cpn_task_destroy(task);
    cpn_peer_close(peer);
    cpn_site_close(site);
    return 0;
}
