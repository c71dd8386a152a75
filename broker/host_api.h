// SPDX-License-Identifier: MIT
/*
 * host_api.h - the table of services brokerd offers to modules (module.h).
 */
#ifndef BROKER_HOST_API_H
#define BROKER_HOST_API_H

#include "broker/module.h"

const bk_host_api *bkd_host_api_table(void);

#endif /* BROKER_HOST_API_H */
