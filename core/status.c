/* SPDX-License-Identifier: Apache-2.0 */
/* Words and symbolic names for status codes. Both switches are generated
 * from CPN_STATUS_MAP in <cpn/status.h>, so a code added there has its text
 * here without anyone touching this file. */
#include <cpn/status.h>

const char *cpn_status_str(cpn_status_t status)
{
    switch (status) {
#define CPN__STATUS_STR(name, value, text)                                     \
    case name:                                                                 \
        return text;
        CPN_STATUS_MAP(CPN__STATUS_STR)
#undef CPN__STATUS_STR
    }
    return "unknown status";
}

const char *cpn_status_name(cpn_status_t status)
{
    switch (status) {
#define CPN__STATUS_NAME(name, value, text)                                    \
    case name:                                                                 \
        return #name;
        CPN_STATUS_MAP(CPN__STATUS_NAME)
#undef CPN__STATUS_NAME
    }
    return "CPN_STATUS_UNKNOWN";
}
