// Compiled as C++ -pedantic -Werror: the public header must be usable.
#include "gcmalloc.h"

int gcm_header_check_cxx();

int gcm_header_check_cxx()
{
	struct gcm_stats st = {};
	gcm_weak_t w = nullptr;
	return static_cast<int>(st.size) + (w != nullptr);
}
