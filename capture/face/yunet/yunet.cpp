#include "yunet.h"

#include <cstring>
#include <exception>
#include <string>

#include <opencv2/core.hpp>
#include <opencv2/objdetect.hpp>

namespace {
struct Handle {
    cv::Ptr<cv::FaceDetectorYN> det;
    cv::Size size;
};

void setErr(char *err, int errlen, const char *msg) {
    if (err && errlen > 0) {
        std::strncpy(err, msg, errlen - 1);
        err[errlen - 1] = 0;
    }
}
}  // namespace

YuNet yunet_new(const char *model, float score, float nms, int topk, char *err, int errlen) {
    try {
        Handle *h = new Handle();
        // Start at YuNet's native 160x120 input; detect() resizes as needed.
        h->size = cv::Size(160, 120);
        h->det = cv::FaceDetectorYN::create(model, "", h->size, score, nms, topk);
        if (h->det.empty()) {
            delete h;
            setErr(err, errlen, "FaceDetectorYN::create returned nothing");
            return nullptr;
        }
        return h;
    } catch (const std::exception &e) {
        setErr(err, errlen, e.what());
        return nullptr;
    }
}

void yunet_free(YuNet y) { delete static_cast<Handle *>(y); }

int yunet_detect(YuNet y, const unsigned char *bgr, int width, int height, int stride,
                 float *out, int max, char *err, int errlen) {
    Handle *h = static_cast<Handle *>(y);
    try {
        cv::Mat img(height, width, CV_8UC3, const_cast<unsigned char *>(bgr), stride);
        if (h->size.width != width || h->size.height != height) {
            h->size = cv::Size(width, height);
            h->det->setInputSize(h->size);
        }
        cv::Mat faces;
        h->det->detect(img, faces);
        if (faces.empty()) return 0;
        int n = faces.rows < max ? faces.rows : max;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < 15 && j < faces.cols; j++) {
                out[i * 15 + j] = faces.at<float>(i, j);
            }
        }
        return n;
    } catch (const std::exception &e) {
        setErr(err, errlen, e.what());
        return -1;
    }
}
