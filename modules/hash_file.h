// SPDX-License-Identifier: MIT
/* hash_file.h - hash.sha256_file (hash_file.c), registered in hash.c's function table. */
#ifndef BK_HASH_FILE_H
#define BK_HASH_FILE_H

#include "broker/module.h"

int hash_sha256_file(bk_task *task, const bk_host_api *host, void *state);

#endif /* BK_HASH_FILE_H */
