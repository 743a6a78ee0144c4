#include "decode.h"

#include <cstring>
#include <exception>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

int face_imdecode(const unsigned char *buf, int len, int flags, void *dst, char *err, int errlen) {
    cv::Mat *out = static_cast<cv::Mat *>(dst);
    try {
        cv::Mat in(1, len, CV_8U, const_cast<unsigned char *>(buf));
        cv::imdecode(in, flags, out);
        return out->empty() ? -1 : 0;
    } catch (const std::exception &e) {
        if (err && errlen > 0) {
            std::strncpy(err, e.what(), errlen - 1);
            err[errlen - 1] = 0;
        }
        out->release();
        return -1;
    }
}
