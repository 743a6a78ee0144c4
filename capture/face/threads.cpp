#include "threads.h"

#include <opencv2/core/utility.hpp>

void face_set_cv_threads(int n) { cv::setNumThreads(n); }
int face_get_cv_threads(void) { return cv::getNumThreads(); }
