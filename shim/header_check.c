/* Compiled as C99 -pedantic -Werror: the public header must be clean. */
#include "gcmalloc.h"

int gcm_header_check_c(void);

int gcm_header_check_c(void)
{
	struct gcm_stats st;
	gcm_weak_t w = 0;
	gcm_cleanup_t c = 0;
	st.size = sizeof(st);
	return (int)(st.size + (w != 0) + c);
}
