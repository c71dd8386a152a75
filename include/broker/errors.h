// SPDX-License-Identifier: MIT
/*
 * errors.h - the error codes of our own, beyond errno's range, shared by
 * libbkclient and brokerd.  Functions return 0 or a negative code: -errno
 * where an errno fits, else one of these.  brokerd sends BK_EVERSION,
 * BK_ELAYOUT and BK_EREFUSED as the status of a HELLO reply (wire.h), so it
 * includes this header rather than client.h; the others arise in the
 * client.  One header keeps the numbering in one place.  bk_strerror()
 * (client.h) names every code.
 */
#ifndef BROKER_ERRORS_H
#define BROKER_ERRORS_H

#define BK_EGONE (-1001) /* the broker died or closed the connection */
#define BK_EVERSION (-1002) /* ABI major version differs between library and broker */
#define BK_ELAYOUT (-1003) /* shared-region layout hash differs (incompatible build) */
#define BK_EBADREGION (-1004) /* the shared region is malformed (bad magic, sizes, seals) */
#define BK_ENOTBROKER (-1005) /* the socket did not answer like a brokerd */
#define BK_EPROTOCOL (-1006) /* the peer broke the protocol */
#define BK_ESTALE (-1007) /* the future was already released */
#define BK_EREFUSED (-1008) /* the broker refused the connection (policy, limits); see bk_connect_error */

#endif /* BROKER_ERRORS_H */
